package io.github.grpcretry;

import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;

/**
 * One failed attempt, as a {@link StatusClassifier} sees it.
 *
 * <p>Thread-safe: immutable once created; the trailers must not be modified.
 */
public final class AttemptFailure {
  private final Status status;
  private final Metadata trailers;
  private final MethodDescriptor<?, ?> method;
  private final CallPolicy policy;
  private final int attemptNumber;
  private final boolean attemptTimedOut;

  /**
   * Creates a failure record; the interceptor creates these, and tests of custom classifiers may.
   *
   * @param attemptNumber 1 for the first attempt
   * @param attemptTimedOut whether the attempt ran out of its per-attempt timeout (its status is
   *     then DEADLINE_EXCEEDED while the call's own deadline still has time left)
   * @throws IllegalArgumentException if {@code status} is OK or {@code attemptNumber < 1}
   */
  public AttemptFailure(
      Status status,
      Metadata trailers,
      MethodDescriptor<?, ?> method,
      CallPolicy policy,
      int attemptNumber,
      boolean attemptTimedOut) {
    if (status.isOk()) {
      throw new IllegalArgumentException("an AttemptFailure cannot have status OK");
    }
    if (attemptNumber < 1) {
      throw new IllegalArgumentException("attemptNumber must be >= 1: " + attemptNumber);
    }
    this.status = status;
    this.trailers = trailers;
    this.method = method;
    this.policy = policy;
    this.attemptNumber = attemptNumber;
    this.attemptTimedOut = attemptTimedOut;
  }

  /** The attempt's final status; never OK. */
  public Status status() {
    return status;
  }

  /** The attempt's trailers. */
  public Metadata trailers() {
    return trailers;
  }

  /** The method called. */
  public MethodDescriptor<?, ?> method() {
    return method;
  }

  /** The policy in force for the call: a {@link RetryPolicy} or a {@link HedgingPolicy}. */
  public CallPolicy policy() {
    return policy;
  }

  /** Which attempt failed: 1 for the first. */
  public int attemptNumber() {
    return attemptNumber;
  }

  /** Whether the attempt ran out of the policy's per-attempt timeout. */
  public boolean attemptTimedOut() {
    return attemptTimedOut;
  }

  @Override
  public String toString() {
    return "AttemptFailure{"
        + method.getFullMethodName()
        + " attempt "
        + attemptNumber
        + ": "
        + status.getCode()
        + (status.getDescription() == null ? "" : " (" + status.getDescription() + ")")
        + (attemptTimedOut ? ", per-attempt timeout" : "")
        + '}';
  }
}
