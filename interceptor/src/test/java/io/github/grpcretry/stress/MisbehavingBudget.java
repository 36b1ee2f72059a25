package io.github.grpcretry.stress;

import io.github.grpcretry.BudgetStats;
import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.stress.CallPlan.BudgetMisbehaviour;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * An unlimited budget, except for calls whose plan makes it misbehave: every {@code tryAcquire}
 * for such a call is slow (spins or sleeps for a moment, which a budget must never do on gRPC's
 * threads), or its n-th {@code tryAcquire} throws.
 *
 * <p>Thread-safe.
 */
final class MisbehavingBudget implements RetryBudget {
  private final Attribution attribution;
  private final Figures figures;
  private final RetryBudget delegate = RetryBudget.unlimited();

  MisbehavingBudget(Attribution attribution, Figures figures) {
    this.attribution = attribution;
    this.figures = figures;
  }

  @Override
  public boolean tryAcquire(AttemptKind kind) {
    CallRecord record = attribution.current();
    if (record == null) {
      figures.count("user code", "budget calls not attributed to a call");
      return delegate.tryAcquire(kind);
    }
    int n = record.budgetCalled();
    BudgetMisbehaviour how = record.plan.actions().budget();
    if (how == BudgetMisbehaviour.THROWS && n == record.plan.actions().budgetAt()) {
      record.budgetMisbehaved("throws in tryAcquire(" + kind + ")");
      figures.count("user code", "budget threw");
      throw new IllegalStateException("stress: scripted failure in RetryBudget.tryAcquire");
    }
    if (how == BudgetMisbehaviour.SLOW) {
      long micros = record.plan.actions().budgetSlowMicros();
      record.budgetMisbehaved("is slow in tryAcquire(" + kind + "): " + micros + "us");
      figures.count("user code", "budget slow");
      if (n % 2 == 0) {
        long end = System.nanoTime() + TimeUnit.MICROSECONDS.toNanos(micros);
        while (System.nanoTime() < end) {
          Thread.onSpinWait();
        }
      } else {
        LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(micros));
      }
    }
    return delegate.tryAcquire(kind);
  }

  @Override
  public void recordOutcome(int attemptNumber, Outcome outcome) {
    delegate.recordOutcome(attemptNumber, outcome);
  }

  @Override
  public BudgetStats stats() {
    return delegate.stats();
  }

  @Override
  public String toString() {
    return "MisbehavingBudget(" + delegate + ")";
  }
}
