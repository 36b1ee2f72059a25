package io.github.grpcretry;

import java.util.Locale;

/**
 * A snapshot of a {@link RetryBudget}'s state, for metrics.
 *
 * <p>Thread-safe: immutable.
 */
public final class BudgetStats {
  /** The stats of a budget that keeps none. */
  static final BudgetStats NOT_AVAILABLE = new BudgetStats(Double.NaN, Double.NaN, 0, 0);

  private final double availableTokens;
  private final double maxTokens;
  private final long granted;
  private final long refused;

  /**
   * Creates a snapshot; budgets written outside this library use this to report their state.
   *
   * @param availableTokens tokens in the bucket now, or NaN for a budget without tokens
   * @param maxTokens the bucket's capacity, or NaN for a budget without tokens
   * @param granted extra attempts granted so far
   * @param refused extra attempts refused so far
   */
  public BudgetStats(double availableTokens, double maxTokens, long granted, long refused) {
    this.availableTokens = availableTokens;
    this.maxTokens = maxTokens;
    this.granted = granted;
    this.refused = refused;
  }

  /** Tokens in the bucket now; NaN for a budget without tokens. */
  public double availableTokens() {
    return availableTokens;
  }

  /** The bucket's capacity; NaN for a budget without tokens. */
  public double maxTokens() {
    return maxTokens;
  }

  /** Extra attempts (retries and hedges) granted so far. */
  public long granted() {
    return granted;
  }

  /** Extra attempts refused so far. */
  public long refused() {
    return refused;
  }

  @Override
  public String toString() {
    return String.format(
        Locale.ROOT,
        "BudgetStats{tokens=%.3f/%.3f, granted=%d, refused=%d}",
        availableTokens,
        maxTokens,
        granted,
        refused);
  }
}
