package io.github.grpcretry;

import io.grpc.Status;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A target's circuit breaker as a listener sees it: after every permission and result, a change
 * of its {@link CircuitBreaker#state()} is reported. Made only for interceptors with a listener.
 *
 * <p>Thread-safe.
 */
final class ObservedBreaker implements CircuitBreaker {
  private final CircuitBreaker breaker;
  private final String target;
  private final RetryListener listener;
  private final AtomicReference<State> last;

  ObservedBreaker(CircuitBreaker breaker, String target, RetryListener listener) {
    this.breaker = breaker;
    this.target = target;
    this.listener = listener;
    this.last = new AtomicReference<>(breaker.state());
  }

  private void check() {
    State now = breaker.state();
    State before = last.get();
    if (now != before && last.compareAndSet(before, now)) {
      listener.onBreakerStateChanged(
          new RetryListener.BreakerStateChanged(
              target,
              before,
              now,
              now == State.CLOSED ? "closed" : breaker.describeRejection()));
    }
  }

  @Override
  public boolean tryAcquirePermission() {
    boolean permitted = breaker.tryAcquirePermission();
    check();
    return permitted;
  }

  @Override
  public void onSuccess() {
    breaker.onSuccess();
    check();
  }

  @Override
  public void onFailure() {
    breaker.onFailure();
    check();
  }

  @Override
  public void onIgnored() {
    breaker.onIgnored();
    check();
  }

  @Override
  public boolean isFailure(Status status) {
    return breaker.isFailure(status);
  }

  @Override
  public String describeRejection() {
    return breaker.describeRejection();
  }

  @Override
  public State state() {
    return breaker.state();
  }

  /** The breaker it watches. */
  CircuitBreaker watched() {
    return breaker;
  }

  @Override
  public String toString() {
    return breaker.toString();
  }
}
