package io.github.grpcretry;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The default {@link RetryBudget}: a token bucket in which a retry costs tokens and a retry that
 * succeeds earns them back.
 *
 * <ul>
 *   <li>The bucket starts full, with {@code maxTokens}.
 *   <li>A retry or hedge is granted only if the bucket holds at least {@code retryCost}, which it
 *       then takes.
 *   <li>When a granted attempt succeeds, its {@code retryCost} goes back into the bucket: a retry
 *       that worked was free.
 *   <li>Every first attempt that succeeds adds {@code successCredit}.
 *   <li>Failures take nothing more: a failed retry has already paid.
 *   <li>An attempt after a per-attempt timeout ({@link AttemptKind#AFTER_TIMEOUT}) is granted
 *       only while the bucket is at least {@code timeoutRetryMinFill} full (90% by default):
 *       rare timeouts (a stuck connection, one slow replica) are replaced freely, but when many
 *       attempts time out at once the server is overloaded, and a replacement would only join the
 *       back of its queue, so after a few of them the slow attempts are left to finish.
 * </ul>
 *
 * <p>So independent transient failures never drain it: most retries succeed and pay themselves
 * back, and first-attempt successes top the bucket up. During an outage every retry fails, nothing
 * comes back, and after {@code maxTokens / retryCost} retries the dependency sees only first
 * attempts. When it recovers, first-attempt successes refill the bucket; after {@code retryCost /
 * successCredit} of them (10 with the defaults) retries are allowed again.
 *
 * <p>With the defaults (100 tokens, cost 1, credit 0.1), measured by {@code RetryBudgetStormTest}
 * with 5 attempts a call: at 20% independent UNAVAILABLE every call is retried as it would be
 * without a budget; during a full outage of 10,000 calls the server sees 1.01 attempts a call. In
 * between, under overload that fails a share {@code p} of attempts, retries settle where what the
 * failed ones cost equals what successes earn.
 *
 * <p>Tokens are kept in thousandths in one {@code AtomicLong}, so every parameter counts to three
 * decimals. Thread-safe and lock-free; a success on a full bucket is a single read.
 */
public final class TokenBucketBudget implements RetryBudget {
  private static final int SCALE = 1000;

  private final long maxMilli;
  private final long costMilli;
  private final long creditMilli;
  private final long afterTimeoutMinMilli;
  private final AtomicLong milliTokens;
  private final LongAdder granted = new LongAdder();
  private final LongAdder refused = new LongAdder();

  private TokenBucketBudget(Builder b) {
    this.maxMilli = b.maxMilli;
    this.costMilli = b.costMilli;
    this.creditMilli = b.creditMilli;
    this.afterTimeoutMinMilli = Math.round(b.maxMilli * b.timeoutRetryMinFill);
    this.milliTokens = new AtomicLong(maxMilli);
  }

  /**
   * Returns a builder with the defaults: 100 tokens, a retry costs 1, a success earns 0.1, a retry
   * after a per-attempt timeout only while the bucket is at least 90% full.
   */
  public static Builder newBuilder() {
    return new Builder();
  }

  /** Returns a budget with the default parameters. */
  public static TokenBucketBudget create() {
    return new Builder().build();
  }

  @Override
  public boolean tryAcquire(AttemptKind kind) {
    long needed =
        kind == AttemptKind.AFTER_TIMEOUT ? Math.max(costMilli, afterTimeoutMinMilli) : costMilli;
    long current;
    do {
      current = milliTokens.get();
      if (current < needed) {
        refused.increment();
        return false;
      }
    } while (!milliTokens.compareAndSet(current, current - costMilli));
    granted.increment();
    return true;
  }

  @Override
  public void recordOutcome(int attemptNumber, Outcome outcome) {
    if (outcome != Outcome.SUCCESS) {
      return;
    }
    long add = attemptNumber > 1 ? costMilli : creditMilli;
    if (add == 0) {
      return;
    }
    long current;
    do {
      current = milliTokens.get();
      if (current >= maxMilli) {
        return; // The healthy case: nothing to write, so no cache line changes hands.
      }
    } while (!milliTokens.compareAndSet(current, Math.min(maxMilli, current + add)));
  }

  /** Tokens in the bucket now. */
  public double availableTokens() {
    return milliTokens.get() / (double) SCALE;
  }

  @Override
  public BudgetStats stats() {
    return new BudgetStats(
        availableTokens(), maxMilli / (double) SCALE, granted.sum(), refused.sum());
  }

  @Override
  public String toString() {
    return String.format(
        Locale.ROOT,
        "TokenBucketBudget{maxTokens=%.3f, retryCost=%.3f, successCredit=%.3f,"
            + " timeoutRetryMinFill=%.3f, %s}",
        maxMilli / (double) SCALE,
        costMilli / (double) SCALE,
        creditMilli / (double) SCALE,
        afterTimeoutMinMilli / (double) maxMilli,
        stats());
  }

  /**
   * Builds {@link TokenBucketBudget}s. Each setter checks its argument at once; {@link #build()}
   * checks the rules across fields and leaves the builder reusable.
   *
   * <p>Not thread-safe.
   */
  public static final class Builder {
    private long maxMilli = 100 * SCALE;
    private long costMilli = SCALE;
    private long creditMilli = SCALE / 10;
    private double timeoutRetryMinFill = 0.9;

    private Builder() {}

    /**
     * Sets the bucket's capacity, which is also how many tokens it starts with; 100 by default.
     *
     * @throws IllegalArgumentException unless it is a finite number from 0.001 to 1,000,000
     */
    public Builder maxTokens(double maxTokens) {
      this.maxMilli = milli("maxTokens", maxTokens, 0.001, 1_000_000);
      return this;
    }

    /**
     * Sets what one retry or hedge costs; 1 by default.
     *
     * @throws IllegalArgumentException unless it is a finite number from 0.001 to 1,000,000
     */
    public Builder retryCost(double retryCost) {
      this.costMilli = milli("retryCost", retryCost, 0.001, 1_000_000);
      return this;
    }

    /**
     * Sets what each successful first attempt adds; 0.1 by default, so that after a drain ten
     * successes pay for one retry. Zero means only successful retries refill the bucket, which
     * then never recovers from an outage: allowed, but rarely what you want.
     *
     * @throws IllegalArgumentException unless it is a finite number from 0 to 1,000,000
     */
    public Builder successCredit(double successCredit) {
      this.creditMilli = milli("successCredit", successCredit, 0, 1_000_000);
      return this;
    }

    /**
     * Sets how full the bucket must be for an attempt after a per-attempt timeout ({@link
     * AttemptKind#AFTER_TIMEOUT}) to be granted, as a share of {@code maxTokens}; 0.9 by default.
     * 0 grants them like any retry; 1 only while the bucket is full.
     *
     * @throws IllegalArgumentException unless it is a number from 0 to 1
     */
    public Builder timeoutRetryMinFill(double share) {
      if (!(share >= 0 && share <= 1)) {
        throw new IllegalArgumentException("timeoutRetryMinFill must be a number from 0 to 1: " + share);
      }
      this.timeoutRetryMinFill = share;
      return this;
    }

    /**
     * Returns a budget with the builder's parameters.
     *
     * @throws IllegalArgumentException if {@code retryCost > maxTokens}, since no retry could ever
     *     be granted
     */
    public TokenBucketBudget build() {
      if (costMilli > maxMilli) {
        throw new IllegalArgumentException(
            String.format(
                Locale.ROOT,
                "retryCost must be <= maxTokens, or no retry is ever granted: retryCost=%.3f,"
                    + " maxTokens=%.3f",
                costMilli / (double) SCALE,
                maxMilli / (double) SCALE));
      }
      return new TokenBucketBudget(this);
    }

    private static long milli(String name, double value, double min, double max) {
      if (!(value >= min && value <= max)) {
        throw new IllegalArgumentException(
            String.format(
                Locale.ROOT, "%s must be a number from %s to %s: %s", name, trim(min), trim(max), value));
      }
      long scaled = Math.round(value * SCALE);
      if (scaled == 0 && value > 0) {
        throw new IllegalArgumentException(
            name + " is kept to three decimals and must be 0 or >= 0.001: " + value);
      }
      return scaled;
    }

    private static String trim(double value) {
      return value == Math.rint(value)
          ? String.format(Locale.ROOT, "%,d", (long) value)
          : Double.toString(value);
    }
  }
}
