package io.github.grpcretry;

import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * What the {@link Judge} made of an attempt that ended or ran out of time: an immutable value that
 * the call applies in one transition.
 *
 * @param kind what to do
 * @param status the status the call ends with, for {@link Kind#STOP} and {@link Kind#FAIL}
 * @param reason why retrying stops ({@link Kind#STOP}, {@link Kind#NO_MORE_HEDGES}) or why a
 *     timed-out attempt was kept ({@link Kind#KEEP}); null when the status speaks for itself
 * @param overload the upstream marker ({@code budget} or {@code pushback}) when retrying stopped
 *     for overload, else null
 * @param delayNanos the wait before the next attempt ({@link Kind#RETRY}, {@link Kind#REPLACE},
 *     {@link Kind#HEDGE_AFTER})
 * @param serverDelay whether the server chose the delay, which starts the backoff over
 * @param permit whether the verdict holds a permission of the circuit breaker for the attempt it
 *     starts ({@link Kind#RETRY}, {@link Kind#REPLACE}), to be given back if none starts
 * @param refusal why no further attempt is made, for listeners; null when one is, or when the
 *     call ends for a reason that is no refusal (the caller's Context, failed user code)
 */
record Verdict(
    Kind kind,
    @Nullable Status status,
    @Nullable String reason,
    @Nullable String overload,
    long delayNanos,
    boolean serverDelay,
    boolean permit,
    RetryListener.@Nullable Refusal refusal) {

  enum Kind {
    /** The attempt ended OK before the call was committed: commit to it and end the call. */
    SUCCEED,
    /** End the call with {@code status}, decorated with {@code reason} when there is one. */
    STOP,
    /**
     * No further attempt may start, for {@code reason}: the call ends with {@code status},
     * decorated, unless another attempt is still in flight, which may yet win.
     */
    GIVE_UP,
    /** End the call with {@code status} as it is: user code failed. */
    FAIL,
    /** Start another attempt after {@code delayNanos}; the budget has granted it. */
    RETRY,
    /**
     * A timed-out attempt gives way: start another after {@code delayNanos}, and cancel the slow
     * one unless the policy hedges on per-attempt timeouts.
     */
    REPLACE,
    /** A timed-out attempt goes on until the call's deadline, for {@code reason}. */
    KEEP,
    /** Hedging: send the next hedge now. */
    HEDGE_NOW,
    /** Hedging: send the next hedge after {@code delayNanos}, the server's delay. */
    HEDGE_AFTER,
    /** Hedging: send no more hedges, for {@code reason}; the ones in flight go on. */
    NO_MORE_HEDGES,
    /** Nothing to do: the attempt's outcome was only recorded. */
    NOTHING
  }

  static final Verdict SUCCEED = new Verdict(Kind.SUCCEED, null, null, null, 0, false, false, null);
  static final Verdict NOTHING = new Verdict(Kind.NOTHING, null, null, null, 0, false, false, null);
  static final Verdict HEDGE_NOW = new Verdict(Kind.HEDGE_NOW, null, null, null, 0, false, false, null);

  /** Ends the call; {@code reason} and {@code refusal} are null for a stop that is no refusal. */
  static Verdict stop(
      Status status, @Nullable String reason, RetryListener.@Nullable Refusal refusal) {
    return new Verdict(Kind.STOP, status, reason, null, 0, false, false, refusal);
  }

  static Verdict giveUp(Status status, String reason, RetryListener.Refusal refusal) {
    return new Verdict(Kind.GIVE_UP, status, reason, null, 0, false, false, refusal);
  }

  static Verdict giveUpForOverload(
      Status status, String reason, String overload, RetryListener.Refusal refusal) {
    return new Verdict(Kind.GIVE_UP, status, reason, overload, 0, false, false, refusal);
  }

  static Verdict fail(Status status) {
    return new Verdict(Kind.FAIL, status, null, null, 0, false, false, null);
  }

  static Verdict retry(long delayNanos, boolean serverDelay, boolean permit) {
    return new Verdict(Kind.RETRY, null, null, null, delayNanos, serverDelay, permit, null);
  }

  static Verdict replace(long delayNanos, boolean permit) {
    return new Verdict(Kind.REPLACE, null, null, null, delayNanos, false, permit, null);
  }

  static Verdict keep(String reason, RetryListener.Refusal refusal) {
    return new Verdict(Kind.KEEP, null, reason, null, 0, false, false, refusal);
  }

  static Verdict keepForOverload(String reason, String overload, RetryListener.Refusal refusal) {
    return new Verdict(Kind.KEEP, null, reason, overload, 0, false, false, refusal);
  }

  static Verdict hedgeAfter(long delayNanos) {
    return new Verdict(Kind.HEDGE_AFTER, null, null, null, delayNanos, true, false, null);
  }

  static Verdict noMoreHedges(
      String reason, @Nullable String overload, RetryListener.Refusal refusal) {
    return new Verdict(Kind.NO_MORE_HEDGES, null, reason, overload, 0, false, false, refusal);
  }
}
