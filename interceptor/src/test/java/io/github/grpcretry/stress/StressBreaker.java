package io.github.grpcretry.stress;

import io.github.grpcretry.CircuitBreaker;
import io.github.grpcretry.stress.CallPlan.BreakerKind;
import io.grpc.Status;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The circuit breaker of one call: the interceptor keeps one breaker per target, and every call
 * with a breaker has a target of its own ({@link CallTarget}), so each instance knows its call.
 * It counts in the call's record every permission asked and every report, and behaves as the
 * plan says: permits everything, delegates to the run's shared classic breaker or adaptive
 * throttling, is slow, refuses everything, or throws from its n-th permission or report.
 *
 * <p>Thread-safe.
 */
final class StressBreaker implements CircuitBreaker {
  private final long callId;
  private final CallRegistry registry;
  private final Figures figures;
  private final CircuitBreaker classic;
  private final CircuitBreaker adaptive;

  StressBreaker(
      long callId,
      CallRegistry registry,
      Figures figures,
      CircuitBreaker classic,
      CircuitBreaker adaptive) {
    this.callId = callId;
    this.registry = registry;
    this.figures = figures;
    this.classic = classic;
    this.adaptive = adaptive;
  }

  private CallRecord record() {
    return registry.live(callId);
  }

  private static BreakerKind kind(CallRecord record) {
    return record == null ? BreakerKind.PERMIT_ALL : record.plan.extras().breaker();
  }

  private CircuitBreaker delegate(BreakerKind kind) {
    return switch (kind) {
      case CLASSIC, SLOW -> classic;
      case ADAPTIVE -> adaptive;
      default -> null;
    };
  }

  private static void slow(CallRecord record) {
    if (record != null && record.plan.extras().breaker() == BreakerKind.SLOW) {
      long end =
          System.nanoTime() + TimeUnit.MICROSECONDS.toNanos(record.plan.extras().breakerSlowMicros());
      while (System.nanoTime() < end) {
        Thread.onSpinWait();
      }
    }
  }

  @Override
  public boolean tryAcquirePermission() {
    CallRecord record = record();
    if (record == null) {
      figures.count("breaker", "permissions asked for no live call");
      return true;
    }
    BreakerKind kind = kind(record);
    int n = record.breakerAsked();
    slow(record);
    if (kind == BreakerKind.THROWS_ON_PERMISSION && n == record.plan.extras().breakerAt()) {
      record.breakerAnswered(n, null);
      record.breakerThrows("tryAcquirePermission");
      figures.count("breaker", "threw from tryAcquirePermission");
      throw new IllegalStateException("stress: scripted failure in CircuitBreaker.tryAcquirePermission");
    }
    CircuitBreaker delegate = delegate(kind);
    boolean granted = kind != BreakerKind.REFUSES && (delegate == null || delegate.tryAcquirePermission());
    record.breakerAnswered(n, granted);
    figures.count("breaker", granted ? "permissions granted" : "permissions refused");
    return granted;
  }

  private void report(String what, Consumer<CircuitBreaker> onDelegate) {
    CallRecord record = record();
    if (record == null) {
      figures.count("breaker", "reports for no live call (" + what + ")");
      return;
    }
    int n = record.breakerReported(what);
    figures.count("breaker", "reports " + what);
    slow(record);
    BreakerKind kind = kind(record);
    CircuitBreaker delegate = delegate(kind);
    if (delegate != null) {
      onDelegate.accept(delegate);
    }
    if (kind == BreakerKind.THROWS_ON_REPORT && n == record.plan.extras().breakerAt()) {
      record.breakerThrows(what);
      figures.count("breaker", "threw from a report");
      throw new IllegalStateException("stress: scripted failure in CircuitBreaker." + what);
    }
  }

  @Override
  public void onSuccess() {
    report("onSuccess", CircuitBreaker::onSuccess);
  }

  @Override
  public void onFailure() {
    report("onFailure", CircuitBreaker::onFailure);
  }

  @Override
  public void onIgnored() {
    report("onIgnored", CircuitBreaker::onIgnored);
  }

  @Override
  public boolean isFailure(Status status) {
    CircuitBreaker delegate = delegate(kind(record()));
    return delegate == null ? CircuitBreaker.super.isFailure(status) : delegate.isFailure(status);
  }

  @Override
  public String describeRejection() {
    CircuitBreaker delegate = delegate(kind(record()));
    return delegate == null ? "stress: this breaker refuses everything" : delegate.describeRejection();
  }

  @Override
  public State state() {
    CircuitBreaker delegate = delegate(kind(record()));
    return delegate == null ? State.CLOSED : delegate.state();
  }

  @Override
  public String toString() {
    return "StressBreaker(call " + callId + ")";
  }
}
