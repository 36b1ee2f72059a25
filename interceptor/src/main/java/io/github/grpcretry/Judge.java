package io.github.grpcretry;

import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Turns the end of an attempt, or its per-attempt timeout, into a {@link Verdict}: the server's
 * hints, the classifier, the attempt limit, the buffer limit, the deadline and the budget, in that
 * order. It runs outside the call's lock, on a snapshot of the call ({@link Case}), and every
 * piece of user code it calls is wrapped (see {@link UserCode}): whatever it throws becomes a
 * {@link Verdict.Kind#FAIL} verdict.
 *
 * <p>One judge serves every call of one method of one interceptor. Thread-safe: immutable.
 */
final class Judge {
  /** How close to its deadline a DEADLINE_EXCEEDED attempt counts as having hit it. */
  private static final long DEADLINE_TOLERANCE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

  static final long NO_DEADLINE = Long.MAX_VALUE;

  /** Why retrying stopped when the budget said no; the call adds which budget and its state. */
  static final String BUDGET_REFUSED = "the retry budget refused another attempt";
  /** Why retrying stopped when the circuit breaker said no; the call adds why it did. */
  static final String BREAKER_REFUSED = "the circuit breaker refused another attempt";

  /** Which kind of event is judged. */
  enum Mode {
    /** A contending attempt closed before the call was committed, with a status other than OK. */
    CLOSED,
    /** An attempt closed OK before the call was committed (a response with no headers). */
    CLOSED_OK,
    /**
     * An attempt we cancelled for its per-attempt timeout closed with something else than our
     * cancellation: the server's own answer, which still decides whether the call may go on.
     */
    TIMED_OUT_ANSWERED,
    /**
     * An attempt we cancelled for its per-attempt timeout closed with our cancellation (its
     * failure was recorded when it was replaced).
     */
    TIMED_OUT_CANCELLED,
    /**
     * The attempt the call was committed to because the request outgrew the replay buffer failed:
     * its outcome is recorded and the call ends with it.
     */
    OVERFLOW_COMMITTED_FAILED,
    /** The per-attempt timer of a contending attempt fired. */
    TIMER
  }

  /**
   * What the judge knows of the call, taken under the call's lock.
   *
   * @param attemptsMade attempts created so far, counting the judged one
   * @param backoffRetries retries since the backoff sequence last started over
   * @param deadlineNanos the call's deadline on the ticker, or {@link #NO_DEADLINE}
   */
  record Case(
      Mode mode,
      int attemptNumber,
      Status status,
      Metadata trailers,
      int attemptsMade,
      @Nullable String stopReason,
      int backoffRetries,
      long previousBackoffNanos,
      long deadlineNanos,
      Context context,
      RetryBudget budget,
      @Nullable CircuitBreaker breaker,
      boolean breakerOwed) {}

  private final CallRuntime runtime;
  private final MethodDescriptor<?, ?> method;
  private final CallPolicy policy;
  private final @Nullable RetryPolicy retry;
  private final @Nullable HedgingPolicy hedging;

  Judge(CallRuntime runtime, MethodDescriptor<?, ?> method, CallPolicy policy) {
    this.runtime = runtime;
    this.method = method;
    this.policy = policy;
    this.retry = policy instanceof RetryPolicy ? (RetryPolicy) policy : null;
    this.hedging = policy instanceof HedgingPolicy ? (HedgingPolicy) policy : null;
  }

  Verdict judge(Case c) {
    try {
      tellBreaker(c);
      switch (c.mode()) {
        case CLOSED_OK:
          UserCode.recordOutcome(c.budget(), c.attemptNumber(), RetryBudget.Outcome.SUCCESS);
          return Verdict.SUCCEED;
        case TIMED_OUT_CANCELLED:
          // Its failure was recorded when it was replaced.
          return Verdict.NOTHING;
        case TIMED_OUT_ANSWERED:
          return timedOutAnswered(c);
        case OVERFLOW_COMMITTED_FAILED:
          classifyAndRecord(c);
          return Verdict.stop(c.status(), c.stopReason(), RetryListener.Refusal.BUFFER_LIMIT);
        case TIMER:
          return timer(c);
        case CLOSED:
          return hedging != null ? hedgeClosed(c) : retryClosed(c);
      }
      throw new AssertionError(c.mode());
    } catch (UserCode.Failure e) {
      return Verdict.fail(e.status);
    }
  }

  /** Tells the circuit breaker how the judged attempt ended, if it is owed that. */
  private static void tellBreaker(Case c) {
    CircuitBreaker breaker = c.breaker();
    if (breaker == null || !c.breakerOwed()) {
      return;
    }
    Boolean failed;
    if (c.mode() == Mode.CLOSED_OK) {
      failed = false;
    } else if (c.context().isCancelled()) {
      failed = null; // The caller's Context cut it short: nothing about the target.
    } else {
      failed = UserCode.isFailure(breaker, c.status());
    }
    UserCode.report(breaker, failed);
  }

  /** Asks the breaker, if any, for the next attempt; returns false if it refused. */
  private static boolean permitted(Case c) {
    return c.breaker() == null || UserCode.tryAcquirePermission(c.breaker());
  }

  /**
   * Asks the budget for an attempt that the breaker, if any, has just permitted. The permission is
   * given back when the budget refuses, and also when it throws: the attempt is not sent then
   * either, and a permission never given back is a half-open breaker's probe lost for good.
   */
  private static boolean budgetGrants(Case c, RetryBudget.AttemptKind kind) {
    boolean granted;
    try {
      granted = UserCode.tryAcquire(c.budget(), kind);
    } catch (UserCode.Failure e) {
      try {
        release(c);
      } catch (UserCode.Failure alsoBroken) {
        e.addSuppressed(alsoBroken); // The call ends with the budget's failure, seen first.
      }
      throw e;
    }
    if (!granted) {
      release(c);
    }
    return granted;
  }

  /** Gives a permission back when the attempt it was for will not be sent. */
  private static void release(Case c) {
    if (c.breaker() != null) {
      UserCode.report(c.breaker(), null);
    }
  }

  /** The DEADLINE_EXCEEDED an attempt ends with when it runs out of its per-attempt timeout. */
  static Status perAttemptTimeoutStatus(long perAttemptTimeoutNanos) {
    return Status.DEADLINE_EXCEEDED.withDescription(
        "grpc-retry: per-attempt timeout of " + Duration.ofNanos(perAttemptTimeoutNanos) + " exceeded");
  }

  private Verdict retryClosed(Case c) {
    long now = runtime.ticker.nanoTime();
    if (c.context().isCancelled()) {
      // Cancelled by the caller's Context: the attempt's status says so.
      return Verdict.stop(c.status(), null, null);
    }
    if (deadlineHit(c, now)) {
      UserCode.recordOutcome(c.budget(), c.attemptNumber(), RetryBudget.Outcome.NON_RETRYABLE_FAILURE);
      return Verdict.stop(c.status(), "the call's deadline was exceeded", RetryListener.Refusal.DEADLINE);
    }
    long hint = ServerHints.retryDelayNanos(c.status(), c.trailers());
    boolean retryable = classifyAndRecord(c, hint);
    if (!retryable) {
      return Verdict.stop(
          c.status(), "status " + c.status().getCode() + " is not retryable", RetryListener.Refusal.NOT_RETRYABLE);
    }
    if (hint == ServerHints.DO_NOT_RETRY) {
      return Verdict.giveUpForOverload(
          c.status(),
          "the server asked not to retry (grpc-retry-pushback-ms)",
          "pushback",
          RetryListener.Refusal.SERVER_PUSHBACK);
    }
    RetryPolicy policy = retry;
    if (c.attemptsMade() >= policy.maxAttempts()) {
      return Verdict.giveUp(
          c.status(), "maxAttempts (" + policy.maxAttempts() + ") reached", RetryListener.Refusal.MAX_ATTEMPTS);
    }
    if (c.stopReason() != null) {
      return Verdict.giveUp(c.status(), c.stopReason(), RetryListener.Refusal.BUFFER_LIMIT);
    }
    long delay = hint >= 0 ? hint : backoff(c);
    String late = tooLate(c, now, delay);
    if (late != null) {
      return Verdict.giveUp(c.status(), late, RetryListener.Refusal.DEADLINE);
    }
    if (!permitted(c)) {
      return Verdict.giveUpForOverload(c.status(), BREAKER_REFUSED, "breaker", RetryListener.Refusal.BREAKER);
    }
    if (!budgetGrants(c, RetryBudget.AttemptKind.RETRY)) {
      return Verdict.giveUpForOverload(c.status(), BUDGET_REFUSED, "budget", RetryListener.Refusal.BUDGET);
    }
    return Verdict.retry(delay, hint >= 0, c.breaker() != null);
  }

  /**
   * The per-attempt timer fired: the attempt gives way (or, with {@code hedgeOnPerAttemptTimeout},
   * gets a hedge beside it) only if another can start now (the method may be repeated after a
   * timeout, attempts are left, the deadline has room for the backoff, the budget grants it);
   * otherwise it goes on, since cancelling a request that is only slow, with nothing to replace
   * it, turns a late answer into a failure.
   */
  private Verdict timer(Case c) {
    RetryPolicy policy = retry;
    AttemptFailure failure =
        new AttemptFailure(
            c.status(), new Metadata(), method, this.policy, c.attemptNumber(), true);
    if (UserCode.classify(runtime.classifier, failure) != StatusClassifier.Category.RETRYABLE) {
      return Verdict.keep(
          "a timed-out attempt is retried only for idempotent or side-effect-free methods",
          RetryListener.Refusal.NOT_RETRYABLE);
    }
    if (c.attemptsMade() >= policy.maxAttempts()) {
      return Verdict.keep("maxAttempts (" + policy.maxAttempts() + ") reached", RetryListener.Refusal.MAX_ATTEMPTS);
    }
    if (c.stopReason() != null) {
      return Verdict.keep(c.stopReason(), RetryListener.Refusal.BUFFER_LIMIT);
    }
    long now = runtime.ticker.nanoTime();
    long delay = backoff(c);
    String late = tooLate(c, now, delay);
    if (late != null) {
      return Verdict.keep(late, RetryListener.Refusal.DEADLINE);
    }
    if (!permitted(c)) {
      return Verdict.keepForOverload(BREAKER_REFUSED, "breaker", RetryListener.Refusal.BREAKER);
    }
    if (!budgetGrants(c, RetryBudget.AttemptKind.AFTER_TIMEOUT)) {
      return Verdict.keepForOverload(BUDGET_REFUSED, "budget", RetryListener.Refusal.BUDGET);
    }
    return Verdict.replace(delay, c.breaker() != null);
  }

  /**
   * A timed-out attempt, already replaced, closed with the server's own answer: a status that the
   * policy does not retry still ends the call (the server really said it), a retryable one changes
   * nothing, since its replacement is on its way.
   */
  private Verdict timedOutAnswered(Case c) {
    if (c.context().isCancelled() || deadlineHit(c, runtime.ticker.nanoTime())) {
      return Verdict.NOTHING;
    }
    // Its outcome was recorded (a failure) when it was replaced: only the status counts here.
    AttemptFailure failure =
        new AttemptFailure(c.status(), c.trailers(), method, policy, c.attemptNumber(), false);
    if (UserCode.classify(runtime.classifier, failure) != StatusClassifier.Category.RETRYABLE) {
      return Verdict.stop(
          c.status(), "status " + c.status().getCode() + " is not retryable", RetryListener.Refusal.NOT_RETRYABLE);
    }
    return Verdict.NOTHING;
  }

  private Verdict hedgeClosed(Case c) {
    long now = runtime.ticker.nanoTime();
    if (c.context().isCancelled()) {
      return Verdict.stop(c.status(), null, null);
    }
    if (deadlineHit(c, now)) {
      UserCode.recordOutcome(c.budget(), c.attemptNumber(), RetryBudget.Outcome.NON_RETRYABLE_FAILURE);
      return Verdict.stop(c.status(), "the call's deadline was exceeded", RetryListener.Refusal.DEADLINE);
    }
    long hint = ServerHints.retryDelayNanos(c.status(), c.trailers());
    if (!classifyAndRecord(c, hint)) {
      return Verdict.stop(
          c.status(),
          "status " + c.status().getCode() + " is fatal (not in nonFatalStatusCodes)",
          RetryListener.Refusal.NOT_RETRYABLE);
    }
    if (hint == ServerHints.DO_NOT_RETRY) {
      return Verdict.noMoreHedges(
          "the server asked not to retry (grpc-retry-pushback-ms)", "pushback", RetryListener.Refusal.SERVER_PUSHBACK);
    }
    return hint >= 0 ? Verdict.hedgeAfter(hint) : Verdict.HEDGE_NOW;
  }

  private void classifyAndRecord(Case c) {
    classifyAndRecord(c, ServerHints.retryDelayNanos(c.status(), c.trailers()));
  }

  /** Classifies a failed attempt and tells the budget; returns whether it is retryable. */
  private boolean classifyAndRecord(Case c, long hint) {
    AttemptFailure failure =
        new AttemptFailure(c.status(), c.trailers(), method, policy, c.attemptNumber(), false);
    boolean retryable =
        UserCode.classify(runtime.classifier, failure) == StatusClassifier.Category.RETRYABLE;
    UserCode.recordOutcome(
        c.budget(),
        c.attemptNumber(),
        retryable || hint == ServerHints.DO_NOT_RETRY
            ? RetryBudget.Outcome.RETRYABLE_FAILURE
            : RetryBudget.Outcome.NON_RETRYABLE_FAILURE);
    return retryable;
  }

  private long backoff(Case c) {
    RetryPolicy policy = retry;
    return Backoff.delayNanos(
        policy.jitter(),
        policy.initialBackoffNanos,
        policy.maxBackoffNanos,
        policy.backoffMultiplier(),
        c.backoffRetries() + 1,
        c.previousBackoffNanos(),
        UserCode.draw(runtime.random));
  }

  private static boolean deadlineHit(Case c, long now) {
    return c.deadlineNanos() != NO_DEADLINE && now >= c.deadlineNanos() - DEADLINE_TOLERANCE_NANOS;
  }

  /** Why an attempt after {@code delay} would be too late, or null if it would not. */
  private static @Nullable String tooLate(Case c, long now, long delay) {
    if (c.deadlineNanos() == NO_DEADLINE || saturatedAdd(now, delay) < c.deadlineNanos()) {
      return null;
    }
    return "the next attempt (after "
        + Duration.ofNanos(delay)
        + ") would start at or after the deadline ("
        + Duration.ofNanos(Math.max(0, c.deadlineNanos() - now))
        + " left)";
  }

  static long saturatedAdd(long a, long b) {
    long sum = a + b;
    return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
  }
}
