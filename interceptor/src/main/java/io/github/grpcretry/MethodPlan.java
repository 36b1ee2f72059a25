package io.github.grpcretry;

import io.grpc.MethodDescriptor;
import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * What the interceptor does with the calls of one method, worked out once: the policy, the
 * numbers a call reads from it, the {@link Judge} of its attempts, or the reason its calls fail
 * at once (a hedging policy on a method that is not safe to repeat).
 *
 * <p>Thread-safe: immutable.
 */
final class MethodPlan {
  /** The method the plan is for. */
  final MethodDescriptor<?, ?> method;
  /** The runtime of the interceptor the plan belongs to. */
  final CallRuntime runtime;
  final @Nullable CallPolicy policy;
  final @Nullable RetryPolicy retry;
  final @Nullable HedgingPolicy hedging;
  final @Nullable Judge judge;
  /** Set when every call of the method fails at once with this status. */
  final @Nullable Status failure;
  final long perAttemptTimeoutNanos;
  final long timeoutNanos;
  /**
   * One attempt, no per-attempt timer, no key, and nobody to ask or tell (no breaker, no
   * listener): nothing to do but perhaps add a deadline.
   */
  final boolean passThrough;

  private MethodPlan(
      MethodDescriptor<?, ?> method,
      CallRuntime runtime,
      @Nullable CallPolicy policy,
      @Nullable Judge judge,
      @Nullable Status failure) {
    this.method = method;
    this.runtime = runtime;
    this.policy = policy;
    this.retry = policy instanceof RetryPolicy ? (RetryPolicy) policy : null;
    this.hedging = policy instanceof HedgingPolicy ? (HedgingPolicy) policy : null;
    this.judge = judge;
    this.failure = failure;
    this.perAttemptTimeoutNanos = retry != null ? retry.perAttemptTimeoutNanos : 0;
    this.timeoutNanos =
        retry != null ? retry.timeoutNanos : hedging != null ? hedging.timeoutNanos : 0;
    this.passThrough =
        policy != null
            && policy.maxAttempts() == 1
            && perAttemptTimeoutNanos == 0
            && !policy.idempotencyKey()
            // A breaker is asked before every attempt and a listener hears every call, first
            // attempts included: such calls need the retrying call even with one attempt.
            && !runtime.breakers.any()
            && runtime.listener == null;
  }

  /** The plan of a method without a policy: its calls go to the channel untouched. */
  static MethodPlan none(CallRuntime runtime, MethodDescriptor<?, ?> method) {
    return new MethodPlan(method, runtime, null, null, null);
  }

  /** The plan of {@code method} under {@code policy}. */
  static MethodPlan of(CallRuntime runtime, MethodDescriptor<?, ?> method, CallPolicy policy) {
    if (policy instanceof HedgingPolicy) {
      HedgingPolicy hedging = (HedgingPolicy) policy;
      if (!hedging.idempotent()
          && !hedging.idempotencyKey()
          && !method.isIdempotent()
          && !method.isSafe()) {
        return new MethodPlan(
            method,
            runtime,
            null,
            null,
            Status.INTERNAL.withDescription(
                "grpc-retry: " + notSafeToHedge(method.getFullMethodName(), hedging)));
      }
    }
    return new MethodPlan(method, runtime, policy, new Judge(runtime, method, policy), null);
  }

  static String notSafeToHedge(String fullMethodName, HedgingPolicy policy) {
    return "hedging policy for "
        + fullMethodName
        + ", which is not safe to hedge: hedging sends the same request several times, so the"
        + " method must be marked idempotency_level = IDEMPOTENT or NO_SIDE_EFFECTS in its proto,"
        + " or the policy built with HedgingPolicy.Builder.idempotent(true) or"
        + " idempotencyKey(true): "
        + policy;
  }
}
