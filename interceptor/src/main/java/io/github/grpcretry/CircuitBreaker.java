package io.github.grpcretry;

import io.grpc.Deadline;
import io.grpc.Status;
import java.util.function.DoubleSupplier;

/**
 * Decides whether an attempt may be sent to a target at all, so that a target that is down is
 * not sent attempts that can only wait for their failure.
 *
 * <p>The interceptor asks {@link #tryAcquirePermission()} before every attempt, first attempts,
 * retries and hedges alike, and tells it the result of every attempt it let through, exactly once:
 * {@link #onSuccess()} when the server answered (response headers or a message, or a status that
 * {@link #isFailure} does not count), {@link #onFailure()} when it failed in a way that counts
 * against the target (the attempt's per-attempt timeout included), and {@link #onIgnored()} when
 * the attempt ended without saying anything about the target (the caller cancelled, another
 * attempt won, or it was never sent). A call whose first attempt is refused ends at once with
 * {@code UNAVAILABLE} and the description {@code grpc-retry: not sent, } followed by {@link
 * #describeRejection()}; it is never retried and costs no retry budget. A refused retry or hedge
 * ends retrying as a refusal of the budget does.
 *
 * <p>Two implementations come with the library, see {@link #classic()} and {@link
 * #adaptiveThrottling()}. An interceptor keeps one per target unless it is given one to share.
 *
 * <p>Implementations must be thread-safe, must not block, and should be lock-free and
 * allocation-free in {@link #tryAcquirePermission()}: it runs before every attempt.
 */
public interface CircuitBreaker {

  /** Where a breaker stands, for visibility. */
  enum State {
    /** Attempts go through. */
    CLOSED,
    /** Attempts are refused until the breaker tries the target again. */
    OPEN,
    /** A few probes go through; their results decide between closing and opening again. */
    HALF_OPEN,
    /** Adaptive throttling: some attempts are refused, at random, in proportion to failures. */
    THROTTLING
  }

  /**
   * Returns whether an attempt may be sent now. A {@code true} may take one of a limited number
   * of probes: its result must then be reported.
   */
  boolean tryAcquirePermission();

  /** An attempt that was let through got an answer from the server. */
  void onSuccess();

  /** An attempt that was let through failed in a way that counts against the target. */
  void onFailure();

  /** An attempt that was let through ended without telling anything about the target. */
  void onIgnored();

  /**
   * Whether an attempt that ended with {@code status} counts as a failure of the target. By
   * default the overload signals do: {@code UNAVAILABLE}, {@code RESOURCE_EXHAUSTED} and {@code
   * DEADLINE_EXCEEDED}; the application's own answers ({@code INVALID_ARGUMENT}, {@code
   * NOT_FOUND}, ...) never do: they show the target is up.
   */
  default boolean isFailure(Status status) {
    switch (status.getCode()) {
      case UNAVAILABLE:
      case RESOURCE_EXHAUSTED:
      case DEADLINE_EXCEEDED:
        return true;
      default:
        return false;
    }
  }

  /** Why attempts are refused now, in words, for the status of a call that was not sent. */
  String describeRejection();

  /** The breaker's state now. */
  State state();

  /**
   * Makes breakers, one per target: what {@link RetryInterceptor.Builder#circuitBreakers} takes.
   * The interceptor passes its own time source and random draws, so that tests on a manual clock
   * drive its breakers too.
   */
  @FunctionalInterface
  interface Factory {
    /**
     * Returns a new breaker for calls to {@code target} (the channel's authority).
     *
     * @param ticker the interceptor's time source
     * @param random the interceptor's source of uniform draws in [0, 1)
     */
    CircuitBreaker create(String target, Deadline.Ticker ticker, DoubleSupplier random);
  }

  /**
   * A classic breaker: opens when the share of failed attempts over a sliding window passes a
   * threshold, stays open for a while (with jitter), then lets a few probes through. See {@link
   * ClassicCircuitBreaker.Builder} for the parameters and their defaults.
   */
  static ClassicCircuitBreaker.Builder classic() {
    return ClassicCircuitBreaker.newBuilder();
  }

  /**
   * Client-side adaptive throttling, as in the Google SRE book's "Handling Overload": each attempt
   * is refused locally with probability {@code max(0, (requests - K * accepts) / (requests + 1))}
   * over a sliding window. See {@link AdaptiveThrottling.Builder}.
   */
  static AdaptiveThrottling.Builder adaptiveThrottling() {
    return AdaptiveThrottling.newBuilder();
  }
}
