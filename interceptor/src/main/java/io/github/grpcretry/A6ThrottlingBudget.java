package io.github.grpcretry;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * gRFC A6 retry throttling; see {@link RetryBudget#grpcRetryThrottling(int, double)}.
 *
 * <p>Tokens are kept in thousandths, as grpc-java keeps them, so that the arithmetic and the
 * threshold comparison match grpc-java's to the last digit.
 *
 * <p>Thread-safe and lock-free.
 */
final class A6ThrottlingBudget implements RetryBudget {
  private static final int SCALE = 1000;

  private final int maxTokens;
  private final double tokenRatio;
  private final long maxMilli;
  private final long thresholdMilli;
  private final long ratioMilli;
  private final AtomicLong milliTokens;
  private final LongAdder granted = new LongAdder();
  private final LongAdder refused = new LongAdder();

  A6ThrottlingBudget(int maxTokens, double tokenRatio) {
    if (maxTokens <= 0 || maxTokens > 1000) {
      throw broken("maxTokens", "must be in (0, 1000]", maxTokens);
    }
    if (!(tokenRatio > 0) || Double.isInfinite(tokenRatio)) {
      throw broken("tokenRatio", "must be a finite number > 0", tokenRatio);
    }
    long ratio = (long) (tokenRatio * SCALE);
    if (ratio == 0) {
      throw broken("tokenRatio", "must be >= 0.001 (it is kept to 3 decimals)", tokenRatio);
    }
    this.maxTokens = maxTokens;
    this.tokenRatio = tokenRatio;
    this.maxMilli = (long) maxTokens * SCALE;
    this.thresholdMilli = maxMilli / 2;
    this.ratioMilli = ratio;
    this.milliTokens = new AtomicLong(maxMilli);
  }

  /** Names the setting as a service config does: {@code retryThrottling maxTokens}. */
  private static Checks.BrokenRule broken(String name, String rule, Object value) {
    return new Checks.BrokenRule(name, rule, "retryThrottling " + name + " " + rule + ": " + value);
  }

  @Override
  public boolean tryAcquire(AttemptKind kind) {
    if (milliTokens.get() > thresholdMilli) {
      granted.increment();
      return true;
    }
    refused.increment();
    return false;
  }

  @Override
  public void recordOutcome(int attemptNumber, Outcome outcome) {
    if (outcome == Outcome.SUCCESS) {
      long current;
      do {
        current = milliTokens.get();
        if (current >= maxMilli) {
          return;
        }
      } while (!milliTokens.compareAndSet(current, Math.min(maxMilli, current + ratioMilli)));
    } else if (outcome == Outcome.RETRYABLE_FAILURE) {
      long current;
      do {
        current = milliTokens.get();
        if (current == 0) {
          return;
        }
      } while (!milliTokens.compareAndSet(current, Math.max(0, current - SCALE)));
    }
  }

  @Override
  public BudgetStats stats() {
    return new BudgetStats(
        milliTokens.get() / (double) SCALE, maxTokens, granted.sum(), refused.sum());
  }

  @Override
  public String toString() {
    return "RetryBudget.grpcRetryThrottling(" + maxTokens + ", " + tokenRatio + "){" + stats() + '}';
  }
}
