package io.github.grpcretry;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A target's budget as a listener sees it: the first refusal after a grant is reported as the
 * budget running dry, the first grant after a refusal as its recovery. Made only for interceptors
 * with a listener.
 *
 * <p>Thread-safe; adds one flag read to each answer, and a write only when the answer changes.
 */
final class ObservedBudget implements RetryBudget {
  private final RetryBudget budget;
  private final String target;
  private final RetryListener listener;
  private final AtomicBoolean dry = new AtomicBoolean();

  ObservedBudget(RetryBudget budget, String target, RetryListener listener) {
    this.budget = budget;
    this.target = target;
    this.listener = listener;
  }

  @Override
  public boolean tryAcquire(AttemptKind kind) {
    boolean granted = budget.tryAcquire(kind);
    // dry flips to !granted: report only the answer that changes it.
    if (dry.get() == granted && dry.compareAndSet(granted, !granted)) {
      RetryListener.BudgetChanged event = new RetryListener.BudgetChanged(target, budget.stats());
      if (granted) {
        listener.onBudgetRecovered(event);
      } else {
        listener.onBudgetExhausted(event);
      }
    }
    return granted;
  }

  @Override
  public void recordOutcome(int attemptNumber, Outcome outcome) {
    budget.recordOutcome(attemptNumber, outcome);
  }

  @Override
  public BudgetStats stats() {
    return budget.stats();
  }

  /** The budget it watches. */
  RetryBudget watches() {
    return budget;
  }

  @Override
  public String toString() {
    return budget.toString();
  }
}
