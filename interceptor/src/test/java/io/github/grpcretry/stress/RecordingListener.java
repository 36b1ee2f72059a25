package io.github.grpcretry.stress;

import io.github.grpcretry.RetryListener;

/**
 * Records every per-call event the interceptor makes in the call's record (found by the target,
 * see {@link CallTarget}), and notes an event of a call delivered while another event of the same
 * call is still being delivered: the listener contract promises one event of a call at a time.
 *
 * <p>Thread-safe.
 */
final class RecordingListener implements RetryListener {
  private final CallRegistry registry;
  private final Figures figures;

  RecordingListener(CallRegistry registry, Figures figures) {
    this.registry = registry;
    this.figures = figures;
  }

  private void record(String target, Object event) {
    long callId = CallTarget.callId(target);
    CallRecord record = callId < 0 ? null : registry.live(callId);
    if (record == null) {
      figures.count("listener", "events of no live call (target " + (callId < 0 ? target : "retired") + ")");
      return;
    }
    figures.count("listener", event.getClass().getSimpleName());
    record.listenerEnter(event);
    // Stay inside for a moment, so that a second delivery of the same call would overlap.
    Thread.onSpinWait();
    record.listenerExit();
  }

  @Override
  public void onAttemptStarted(AttemptStarted event) {
    record(event.target(), event);
  }

  @Override
  public void onAttemptEnded(AttemptEnded event) {
    record(event.target(), event);
  }

  @Override
  public void onCallCommitted(CallCommitted event) {
    record(event.target(), event);
  }

  @Override
  public void onRetryRefused(RetryRefused event) {
    record(event.target(), event);
  }

  @Override
  public void onCallClosed(CallClosed event) {
    record(event.target(), event);
  }

  @Override
  public void onBreakerStateChanged(BreakerStateChanged event) {
    figures.count("listener", "breaker state changes to " + event.to());
  }

  @Override
  public void onBudgetExhausted(BudgetChanged event) {
    figures.count("listener", "budget exhausted");
  }

  @Override
  public String toString() {
    return "RecordingListener";
  }
}
