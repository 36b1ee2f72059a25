package io.github.grpcretry;

import io.grpc.Status;

/**
 * Decides whether a failed attempt is worth another attempt.
 *
 * <p>The interceptor asks only about attempts that failed before the call was committed. It
 * settles by itself what no classifier may change: OK ends the call, a cancellation that the caller
 * caused is never retried, the call's own deadline is never retried, and nothing is retried once
 * the application has seen response headers or a message. A retryable verdict is still subject to
 * the attempt limit, the deadline, the server's hints and the retry budget.
 *
 * <p>Implementations must be thread-safe and fast: they run on gRPC's callback threads.
 */
@FunctionalInterface
public interface StatusClassifier {

  /** The verdict on a failed attempt. */
  enum Category {
    /** Another attempt may succeed. */
    RETRYABLE,
    /** Another attempt would fail the same way or is unsafe; the call ends with this status. */
    TERMINAL
  }

  /** Classifies one failed attempt. */
  Category classify(AttemptFailure failure);

  /**
   * The default classifier:
   *
   * <ul>
   *   <li>a DEADLINE_EXCEEDED caused by the policy's per-attempt timeout is retryable only for
   *       methods marked {@code idempotency_level = IDEMPOTENT} or {@code NO_SIDE_EFFECTS} ({@link
   *       io.grpc.MethodDescriptor#isIdempotent()}, {@link io.grpc.MethodDescriptor#isSafe()}) or
   *       whose policy gives calls an idempotency key ({@link CallPolicy#idempotencyKey()}), since
   *       the timed-out attempt may have taken effect on the server;
   *   <li>any other status is retryable when its code is among the policy's {@link
   *       RetryPolicy#retryableStatusCodes()} ({@code UNAVAILABLE} by default, following Google's
   *       AIP-194), or among its {@link RetryPolicy#idempotentRetryableStatusCodes()} and the
   *       method is marked idempotent or side-effect free; terminal otherwise;
   *   <li>under a {@link HedgingPolicy}, a status is retryable (non-fatal: the other hedges go on
   *       and the next is sent at once) when its code is among the policy's {@link
   *       HedgingPolicy#nonFatalStatusCodes()}, and terminal (fatal: the call ends) otherwise.
   * </ul>
   */
  static StatusClassifier defaultClassifier() {
    return DefaultClassifier.INSTANCE;
  }
}

/** See {@link StatusClassifier#defaultClassifier()}. */
enum DefaultClassifier implements StatusClassifier {
  INSTANCE;

  @Override
  public Category classify(AttemptFailure failure) {
    if (failure.attemptTimedOut()) {
      return failure.method().isIdempotent()
              || failure.method().isSafe()
              || failure.policy().idempotencyKey()
          ? Category.RETRYABLE
          : Category.TERMINAL;
    }
    Status.Code code = failure.status().getCode();
    if (failure.policy() instanceof HedgingPolicy) {
      return ((HedgingPolicy) failure.policy()).nonFatalStatusCodes().contains(code)
          ? Category.RETRYABLE
          : Category.TERMINAL;
    }
    RetryPolicy policy = (RetryPolicy) failure.policy();
    if (policy.retryableStatusCodes().contains(code)) {
      return Category.RETRYABLE;
    }
    return policy.idempotentRetryableStatusCodes().contains(code)
            && (failure.method().isIdempotent() || failure.method().isSafe())
        ? Category.RETRYABLE
        : Category.TERMINAL;
  }

  @Override
  public String toString() {
    return "StatusClassifier.defaultClassifier()";
  }
}
