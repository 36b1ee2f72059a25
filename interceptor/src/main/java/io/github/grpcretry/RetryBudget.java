package io.github.grpcretry;

/**
 * Decides whether a retry may be sent, and learns from the outcome of every attempt, so that a
 * dependency that is down sees almost no extra load while independent transient failures are
 * still retried.
 *
 * <p>One budget may be shared by any number of interceptors and channels. The interceptor calls
 * {@link #recordOutcome} once for every attempt that ends before the call commits, then, when the
 * attempt failed and may be retried, {@link #tryAcquire} once before scheduling the retry.
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
    HEDGE
  }

  /** How an attempt ended. */
  enum Outcome {
    /** The attempt ended with OK. */
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

  /** Records how one attempt ended. */
  void recordOutcome(Outcome outcome);

  /** A budget that allows every retry and learns nothing. */
  static RetryBudget unlimited() {
    return UnlimitedBudget.INSTANCE;
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
  public void recordOutcome(Outcome outcome) {}

  @Override
  public String toString() {
    return "RetryBudget.unlimited()";
  }
}
