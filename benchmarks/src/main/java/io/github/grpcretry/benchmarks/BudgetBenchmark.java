package io.github.grpcretry.benchmarks;

import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.RetryBudget.AttemptKind;
import io.github.grpcretry.RetryBudget.Outcome;
import io.github.grpcretry.TokenBucketBudget;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The hot path of the retry budgets, with two threads sharing one budget as the attempts of
 * concurrent calls do.
 *
 * <ul>
 *   <li>{@link #recordSuccessOnFullBucket}: what every successful first attempt costs in a healthy
 *       system, where the bucket stays full.
 *   <li>{@link #acquireAndRefund}: a retry granted and then succeeding, which pays its tokens back.
 * </ul>
 *
 * <p>JMH creates one instance per trial and calls it from two threads at once.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Threads(2)
@Fork(2)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
public class BudgetBenchmark {

  /** {@code tokenBucket}: {@link TokenBucketBudget#create()}; {@code grpcRetryThrottling}: A6's. */
  @Param({"tokenBucket", "grpcRetryThrottling"})
  public String budgetType;

  private RetryBudget budget;

  @Setup(Level.Trial)
  public void start() {
    switch (budgetType) {
      case "tokenBucket":
        budget = TokenBucketBudget.create();
        break;
      case "grpcRetryThrottling":
        budget = RetryBudget.grpcRetryThrottling(10, 0.1);
        break;
      default:
        throw new IllegalArgumentException(
            "budgetType must be tokenBucket or grpcRetryThrottling: " + budgetType);
    }
  }

  @Benchmark
  public void recordSuccessOnFullBucket() {
    budget.recordOutcome(1, Outcome.SUCCESS);
  }

  @Benchmark
  public boolean acquireAndRefund() {
    boolean granted = budget.tryAcquire(AttemptKind.RETRY);
    budget.recordOutcome(2, Outcome.SUCCESS);
    return granted;
  }
}
