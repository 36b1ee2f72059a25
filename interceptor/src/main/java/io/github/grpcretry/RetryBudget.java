package io.github.grpcretry;

/**
 * Decides whether a retry may be sent, and learns from the outcome of every attempt, so that a
 * dependency that is down sees almost no extra load while independent transient failures are
 * still retried.
 *
 * <p>One budget may be shared by any number of interceptors and channels. For every attempt the
 * interceptor calls {@link #recordOutcome} once when its outcome is known (success when the server
 * answers with response headers or a message, failure when it closes without), then, when a
 * failed attempt may be retried, {@link #tryAcquire} once before scheduling the retry.
 *
 * <p>Three budgets come with the library:
 *
 * <ul>
 *   <li>{@link TokenBucketBudget}, the default: a retry costs a token and a retry that succeeds
 *       earns it back, so retries that work keep the bucket full while retries that fail drain
 *       it;
 *   <li>{@link #grpcRetryThrottling(int, double)}: gRFC A6's throttling, as a service config's
 *       {@code retryThrottling} does it in grpc-java;
 *   <li>{@link #unlimited()}: no limit at all.
 * </ul>
 *
 * <p>Implementations must be thread-safe, must not block, and should be lock-free: they run on
 * gRPC's callback threads for every attempt.
 */
public interface RetryBudget {

  /** What an extra attempt is for. */
  enum AttemptKind {
    /** Another attempt after a failed one. */
    RETRY,
    /** Another attempt sent while an earlier one is still in flight. */
    HEDGE,
    /**
     * Another attempt because an earlier one ran out of its per-attempt timeout (the slow one is
     * cancelled, or kept beside the new one with {@code hedgeOnPerAttemptTimeout}). Timeouts are
     * what overload looks like from the client, and under overload a replacement only joins the
     * back of the same queue, so budgets may grant these more sparingly than other retries.
     */
    AFTER_TIMEOUT
  }

  /** How an attempt ended. */
  enum Outcome {
    /** The server answered: response headers or a message arrived, or the attempt ended OK. */
    SUCCESS,
    /**
     * The attempt failed in a way that says the server is unhealthy: a retryable status, or a
     * server's pushback asking the client not to retry.
     */
    RETRYABLE_FAILURE,
    /** The attempt failed with a status that another attempt would not change. */
    NON_RETRYABLE_FAILURE
  }

  /**
   * Asks to send one more attempt of a call that has already sent one; returns whether it may be
   * sent. A {@code true} answer may consume part of the budget.
   */
  boolean tryAcquire(AttemptKind kind);

  /**
   * Records how one attempt ended.
   *
   * @param attemptNumber 1 for a call's first attempt; an attempt with a higher number was granted
   *     by {@link #tryAcquire}
   */
  void recordOutcome(int attemptNumber, Outcome outcome);

  /** The budget's current state, for metrics. */
  default BudgetStats stats() {
    return BudgetStats.NOT_AVAILABLE;
  }

  /** A budget that allows every retry and learns nothing. */
  static RetryBudget unlimited() {
    return UnlimitedBudget.INSTANCE;
  }

  /**
   * gRFC A6's retry throttling, with grpc-java's arithmetic: the bucket starts with {@code
   * maxTokens}; an attempt that fails with a retryable status or a negative pushback takes one
   * token away, a successful one adds {@code tokenRatio} (kept to three decimals); retries are
   * allowed only while more than {@code maxTokens / 2} tokens remain. Retries themselves cost
   * nothing.
   *
   * <p>Its known weakness: the tokens drain whenever more than about {@code tokenRatio / (1 +
   * tokenRatio)} of attempts fail (9% with a ratio of 0.1), even when every retry would succeed.
   *
   * @throws IllegalArgumentException unless {@code 0 < maxTokens <= 1000} and {@code tokenRatio}
   *     is a finite number with at least 0.001 in it
   */
  static RetryBudget grpcRetryThrottling(int maxTokens, double tokenRatio) {
    return new A6ThrottlingBudget(maxTokens, tokenRatio);
  }
}

/** See {@link RetryBudget#unlimited()}. */
enum UnlimitedBudget implements RetryBudget {
  INSTANCE;

  @Override
  public boolean tryAcquire(AttemptKind kind) {
    return true;
  }

  @Override
  public void recordOutcome(int attemptNumber, Outcome outcome) {}

  @Override
  public String toString() {
    return "RetryBudget.unlimited()";
  }
}
