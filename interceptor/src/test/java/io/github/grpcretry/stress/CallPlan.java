package io.github.grpcretry.stress;

import io.github.grpcretry.CallPolicy;
import io.github.grpcretry.HedgingPolicy;
import io.github.grpcretry.RetryPolicy;
import java.util.List;

/**
 * Everything chosen at random for one call before it starts: transport, method, policy, deadline,
 * the server's script (one behaviour per attempt) and what the application will do. A plan depends
 * only on the run's seed and the call's index, so that a failure names a call that can be planned
 * again.
 *
 * <p>Thread-safe: immutable.
 */
record CallPlan(
    long seed,
    int index,
    long callId,
    Transport transport,
    StressMethod method,
    CallPolicy policy,
    DeadlineSource deadlineSource,
    long deadlineMillis,
    List<AttemptScript> scripts,
    ClientActions actions,
    Extras extras) {

  /** Where the call's deadline comes from. */
  enum DeadlineSource {
    NONE,
    /** {@code CallOptions.withDeadlineAfter}. */
    CALL_OPTIONS,
    /** The policy's {@code timeout}, used when the caller sets no deadline. */
    POLICY_TIMEOUT,
    /** {@code Context.current().withDeadlineAfter} around the call's start. */
    CONTEXT
  }

  /** How the application sends its request messages. */
  enum Sending {
    /** All of them right after start(), then halfClose(). */
    AT_ONCE,
    /** While isReady() says so, checked right after start(); resumes on every onReady. */
    WHEN_READY,
    /**
     * Not before the first onReady, then while isReady(); resumes on every onReady. This is how
     * stubs and most applications use flow control, and it relies on the transport's first
     * onReady, which gRPC's transports always deliver and the interceptor must pass on.
     */
    AFTER_FIRST_ON_READY
  }

  /** A misbehaviour of the retry budget, when asked for this call. */
  enum BudgetMisbehaviour {
    NONE,
    /** Every tryAcquire for this call spins or sleeps briefly. */
    SLOW,
    /** The n-th tryAcquire for this call throws. */
    THROWS
  }

  /**
   * What the application does.
   *
   * @param requestMessages request messages sent (1 unless the client streams)
   * @param sending when the request messages are sent
   * @param slowReader request one message at a time from another thread, pausing in between
   * @param readerPauseMicros the slow reader's longest pause
   * @param upFrontRequest what a normal reader requests right after start
   * @param cancelAtMicros when the application calls {@code cancel()} (from another thread), or
   *     -1
   * @param contextCancelAtMicros when the call's Context is cancelled, or -1
   * @param listenerThrowsAtMessage the application's {@code onMessage} throws on this message
   *     (1-based), or -1
   * @param classifierThrowsAt the classifier throws on its n-th invocation for this call, or -1
   */
  record ClientActions(
      int requestMessages,
      Sending sending,
      boolean slowReader,
      int readerPauseMicros,
      int upFrontRequest,
      long cancelAtMicros,
      long contextCancelAtMicros,
      int listenerThrowsAtMessage,
      int classifierThrowsAt,
      BudgetMisbehaviour budget,
      int budgetAt,
      int budgetSlowMicros) {

    @Override
    public String toString() {
      StringBuilder sb = new StringBuilder("[");
      sb.append("sends ").append(requestMessages).append(requestMessages == 1 ? " message" : " messages");
      sb.append(
          switch (sending) {
            case AT_ONCE -> " at once";
            case WHEN_READY -> " while isReady()";
            case AFTER_FIRST_ON_READY -> " after the first onReady";
          });
      sb.append(slowReader ? ", slow reader (pauses <= " + readerPauseMicros + "us)" : ", request(" + upFrontRequest + ")");
      if (cancelAtMicros >= 0) {
        sb.append(", cancel() at ").append(cancelAtMicros).append("us");
      }
      if (contextCancelAtMicros >= 0) {
        sb.append(", Context cancelled at ").append(contextCancelAtMicros).append("us");
      }
      if (listenerThrowsAtMessage > 0) {
        sb.append(", onMessage throws on message ").append(listenerThrowsAtMessage);
      }
      if (classifierThrowsAt > 0) {
        sb.append(", classifier throws on its call ").append(classifierThrowsAt);
      }
      if (budget == BudgetMisbehaviour.SLOW) {
        sb.append(", budget slow (").append(budgetSlowMicros).append("us per tryAcquire)");
      } else if (budget == BudgetMisbehaviour.THROWS) {
        sb.append(", budget throws on tryAcquire ").append(budgetAt);
      }
      return sb.append(']').toString();
    }
  }

  /** How a listener attached to the call's interceptor behaves for this call. */
  enum ListenerMisbehaviour {
    NONE,
    /** The misbehaving listener (added before the recording one) throws from every event. */
    THROWS,
    /** The misbehaving listener spins for a moment in every event. */
    SLOW
  }

  /** The circuit breaker the call's interceptor asks, as it behaves for this call. */
  enum BreakerKind {
    /** No breaker: the call goes through an interceptor without one. */
    NONE,
    /** A breaker that permits everything: only the bookkeeping is watched. */
    PERMIT_ALL,
    /** The run's shared {@code ClassicCircuitBreaker}, tuned to open now and then. */
    CLASSIC,
    /** The run's shared {@code AdaptiveThrottling}. */
    ADAPTIVE,
    /** The shared classic breaker, with every method spinning for a moment first. */
    SLOW,
    /** Refuses every permission: the call must end UNAVAILABLE without reaching a server. */
    REFUSES,
    /** The n-th {@code tryAcquirePermission} throws. */
    THROWS_ON_PERMISSION,
    /** The n-th report ({@code onSuccess}, {@code onFailure}, {@code onIgnored}) throws. */
    THROWS_ON_REPORT
  }

  /**
   * The newer features a call may use: listeners on its interceptor, a circuit breaker, an
   * idempotency key. Drawn from a random stream of their own, so that the rest of a plan is the
   * same as before these existed.
   *
   * @param listener the call's interceptor has the recording listener (and a misbehaving one)
   * @param listenerMisbehaviour what the misbehaving listener does for this call
   * @param listenerSlowMicros how long the slow listener spins per event
   * @param breaker the breaker the call's interceptor asks, or NONE
   * @param breakerAt the n-th permission or report that throws (1-based), or -1
   * @param breakerSlowMicros how long the slow breaker spins per method
   * @param idempotencyKey the policy has {@code idempotencyKey(true)}
   */
  record Extras(
      boolean listener,
      ListenerMisbehaviour listenerMisbehaviour,
      int listenerSlowMicros,
      BreakerKind breaker,
      int breakerAt,
      int breakerSlowMicros,
      boolean idempotencyKey) {
    static final Extras NONE =
        new Extras(false, ListenerMisbehaviour.NONE, 0, BreakerKind.NONE, -1, 0, false);

    @Override
    public String toString() {
      if (!listener && breaker == BreakerKind.NONE && !idempotencyKey) {
        return "none";
      }
      StringBuilder sb = new StringBuilder("[");
      if (listener) {
        sb.append("listeners");
        if (listenerMisbehaviour == ListenerMisbehaviour.THROWS) {
          sb.append(" (one throws)");
        } else if (listenerMisbehaviour == ListenerMisbehaviour.SLOW) {
          sb.append(" (one slow: ").append(listenerSlowMicros).append("us per event)");
        }
      }
      if (breaker != BreakerKind.NONE) {
        sb.append(sb.length() > 1 ? ", " : "").append("breaker ").append(breaker);
        if (breakerAt > 0) {
          sb.append(" at ").append(breakerAt);
        }
        if (breaker == BreakerKind.SLOW) {
          sb.append(" (").append(breakerSlowMicros).append("us per method)");
        }
      }
      if (idempotencyKey) {
        sb.append(sb.length() > 1 ? ", " : "").append("idempotencyKey");
      }
      return sb.append(']').toString();
    }
  }

  /** Whether the call's interceptor is one with a listener or a breaker. */
  boolean needsOwnInterceptor() {
    return extras.listener() || extras.breaker() != BreakerKind.NONE;
  }

  /** Whether the engine treats the method as safe to repeat: by its descriptor or by the key. */
  boolean safeToRepeat() {
    return method.safeToRepeat() || policy.idempotencyKey();
  }

  boolean hedged() {
    return policy instanceof HedgingPolicy;
  }

  /** The retry policy, or null when hedged. */
  RetryPolicy retryPolicy() {
    return policy instanceof RetryPolicy ? (RetryPolicy) policy : null;
  }

  boolean hasDeadline() {
    return deadlineSource != DeadlineSource.NONE;
  }

  /** The script of attempt {@code n} (0 for the first). */
  AttemptScript script(int n) {
    return n >= 0 && n < scripts.size() ? scripts.get(n) : AttemptScript.beyondScript();
  }

  /** One line naming the call and how to plan it again. */
  String headline() {
    return "call #" + index + " (id " + callId + ", seed " + seed + ")";
  }

  String describe() {
    StringBuilder sb = new StringBuilder();
    sb.append(headline()).append('\n');
    sb.append("  transport: ").append(transport).append('\n');
    sb.append("  method:    ").append(method).append(" (").append(method.type());
    sb.append(method.safeToRepeat() ? ", safe to repeat" : ", not idempotent").append(")\n");
    sb.append("  policy:    ").append(policy).append('\n');
    sb.append("  deadline:  ");
    sb.append(hasDeadline() ? deadlineMillis + "ms from " + deadlineSource : "none").append('\n');
    sb.append("  server:    ");
    for (int i = 0; i < scripts.size(); i++) {
      sb.append(i == 0 ? "" : "; ").append('#').append(i).append(' ').append(scripts.get(i));
    }
    sb.append('\n');
    sb.append("  client:    ").append(actions).append('\n');
    sb.append("  extras:    ").append(extras).append('\n');
    return sb.toString();
  }
}
