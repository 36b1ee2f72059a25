package io.github.grpcretry;

import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Hears what the interceptor does: per call, every attempt that starts and ends, the commit, each
 * retry refused and why, and the close; per target, the breaker's state changes and the budget
 * running dry and recovering. Set with {@link RetryInterceptor.Builder#addListener}; {@link
 * #logging()} logs through {@code java.util.logging}, and the {@code grpc-retry-opentelemetry}
 * module turns these events into metrics.
 *
 * <p>Every method has an empty default, so a listener overrides what it needs. They are called
 * outside every lock of the interceptor, on whatever thread the event happened (a transport
 * callback, a timer, the application's), one event of a call at a time and in the order the call
 * went through them. A listener must be quick and must not block; an exception it throws is logged
 * once and changes nothing about the call. With no listener set, none of these events is made.
 *
 * <p>Implementations must be thread-safe: calls run concurrently.
 */
public interface RetryListener {

  /** Why an attempt was made. */
  enum AttemptKind {
    /** The call's first attempt. */
    FIRST,
    /** Another attempt after one failed, or in place of one that timed out. */
    RETRY,
    /** Another attempt beside those in flight: hedging, or hedging on a per-attempt timeout. */
    HEDGE
  }

  /** Where the wait before an attempt came from. */
  enum DelaySource {
    /** No wait: the first attempt, or one sent at once. */
    NONE,
    /** The policy's exponential backoff with jitter. */
    BACKOFF,
    /** The server's {@code grpc-retry-pushback-ms}. */
    PUSHBACK,
    /** The server's {@code google.rpc.RetryInfo}. */
    RETRY_INFO,
    /** The hedging policy's {@code hedgingDelay}. */
    HEDGING_DELAY
  }

  /** Why no further attempt was made. */
  enum Refusal {
    /** The status is not retryable (a fatal one, under hedging). */
    NOT_RETRYABLE,
    /** The server asked not to retry ({@code grpc-retry-pushback-ms} negative or unparseable). */
    SERVER_PUSHBACK,
    /** {@code maxAttempts} attempts were made. */
    MAX_ATTEMPTS,
    /** The next attempt would start at or after the call's deadline, or the deadline passed. */
    DEADLINE,
    /** The request outgrew the replay buffer. */
    BUFFER_LIMIT,
    /** The retry budget refused. */
    BUDGET,
    /** The circuit breaker refused, for a first attempt too (the call was then not sent). */
    BREAKER
  }

  /** A call's attempt started (was created; the transport may send it a moment later). */
  record AttemptStarted(
      String method,
      String target,
      int attemptNumber,
      AttemptKind kind,
      Duration delay,
      DelaySource delaySource) {}

  /**
   * A call's attempt ended.
   *
   * @param status the attempt's own status (for one we cancelled, the cancellation)
   * @param abandonedBecause why the interceptor gave up on it (another attempt won, its
   *     per-attempt timeout, the call ended), or null if it ended on its own
   */
  record AttemptEnded(
      String method,
      String target,
      int attemptNumber,
      Status status,
      Duration duration,
      @Nullable String abandonedBecause) {}

  /** The call was committed to one attempt: its responses reach the application from now on. */
  record CallCommitted(String method, String target, int attemptNumber) {}

  /**
   * No further attempt was made after {@code attemptNumber} (0: not even the first), for {@code
   * reason}, described in {@code description}.
   */
  record RetryRefused(
      String method, String target, int attemptNumber, Refusal reason, String description) {}

  /**
   * The call closed.
   *
   * @param attempts how many attempts were made (0 when the breaker refused the first)
   * @param hedges how many of them were hedges
   * @param retryDelay the total time with no attempt in flight between the first and the last
   *     (gRFC A96's {@code grpc.client.call.retry_delay})
   * @param duration from {@code start} to the close
   */
  record CallClosed(
      String method,
      String target,
      Status status,
      int attempts,
      int hedges,
      Duration retryDelay,
      Duration duration) {}

  /** A target's circuit breaker changed state. */
  record BreakerStateChanged(
      String target, CircuitBreaker.State from, CircuitBreaker.State to, String description) {}

  /** A target's retry budget refused a retry after granting the one before (or recovered). */
  record BudgetChanged(String target, BudgetStats stats) {}

  default void onAttemptStarted(AttemptStarted event) {}

  default void onAttemptEnded(AttemptEnded event) {}

  default void onCallCommitted(CallCommitted event) {}

  default void onRetryRefused(RetryRefused event) {}

  default void onCallClosed(CallClosed event) {}

  default void onBreakerStateChanged(BreakerStateChanged event) {}

  /** The target's budget refused a retry, having granted the last one it was asked for. */
  default void onBudgetExhausted(BudgetChanged event) {}

  /** The target's budget granted a retry, having refused the last one it was asked for. */
  default void onBudgetRecovered(BudgetChanged event) {}

  /**
   * A listener that logs through {@code java.util.logging}, as grpc-java does: every retry,
   * hedge and refusal at {@code FINE} (logger {@code io.github.grpcretry.RetryInterceptor}), a
   * budget running dry or a breaker opening at {@code WARNING}, at most once per target every 30
   * seconds.
   */
  static RetryListener logging() {
    return new LoggingRetryListener();
  }

  /** One listener that passes every event to each of {@code listeners}, in order. */
  static RetryListener combine(List<RetryListener> listeners) {
    return Listeners.combine(listeners);
  }
}
