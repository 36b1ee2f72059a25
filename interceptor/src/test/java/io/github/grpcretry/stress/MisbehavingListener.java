package io.github.grpcretry.stress;

import io.github.grpcretry.RetryListener;
import io.github.grpcretry.stress.CallPlan.ListenerMisbehaviour;
import java.util.concurrent.TimeUnit;

/**
 * A listener added before the recording one that, for the calls whose plan says so, throws from
 * every event or spins for a moment in each: the contract says a throwing listener changes
 * nothing about the call, so the recording listener after it must still hear everything and the
 * call must end as it would have.
 *
 * <p>Thread-safe.
 */
final class MisbehavingListener implements RetryListener {
  private final CallRegistry registry;
  private final Figures figures;

  MisbehavingListener(CallRegistry registry, Figures figures) {
    this.registry = registry;
    this.figures = figures;
  }

  private void misbehave(String target) {
    long callId = CallTarget.callId(target);
    CallRecord record = callId < 0 ? null : registry.live(callId);
    if (record == null) {
      return;
    }
    CallPlan.Extras extras = record.plan.extras();
    if (extras.listenerMisbehaviour() == ListenerMisbehaviour.THROWS) {
      figures.count("user code", "retry listener threw");
      throw new IllegalStateException("stress: scripted failure in a RetryListener");
    }
    if (extras.listenerMisbehaviour() == ListenerMisbehaviour.SLOW) {
      figures.count("user code", "retry listener slow");
      long end = System.nanoTime() + TimeUnit.MICROSECONDS.toNanos(extras.listenerSlowMicros());
      while (System.nanoTime() < end) {
        Thread.onSpinWait();
      }
    }
  }

  @Override
  public void onAttemptStarted(AttemptStarted event) {
    misbehave(event.target());
  }

  @Override
  public void onAttemptEnded(AttemptEnded event) {
    misbehave(event.target());
  }

  @Override
  public void onCallCommitted(CallCommitted event) {
    misbehave(event.target());
  }

  @Override
  public void onRetryRefused(RetryRefused event) {
    misbehave(event.target());
  }

  @Override
  public void onCallClosed(CallClosed event) {
    misbehave(event.target());
  }

  @Override
  public String toString() {
    return "MisbehavingListener";
  }
}
