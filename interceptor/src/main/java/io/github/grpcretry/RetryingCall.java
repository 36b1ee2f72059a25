package io.github.grpcretry;

import io.github.grpcretry.Attempt.CancelOrder;
import io.github.grpcretry.Attempt.Fate;
import io.github.grpcretry.Attempt.Stage;
import io.github.grpcretry.OutboundLog.Control;
import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * One call as the application sees it, carried out by attempts on the channel below: one after
 * another under a {@link RetryPolicy}, side by side under a {@link HedgingPolicy}. Both are the
 * same machine; hedging only adds a rule for when the next attempt starts.
 *
 * <h2>States</h2>
 *
 * <p>The call is in one {@link Phase}; each of its attempts has a {@link Stage} and a {@link Fate}
 * (see {@link Attempt}). Every change of state is a transition: a method that takes the lock,
 * checks the state it finds, changes it, and leaves what must happen outside the lock (sending to
 * attempts, delivering the close, watching the Context, asking the budget for a hedge) as effects
 * that the same thread then carries out. The close reaches the application on one path only:
 * {@link #beginClose} fixes the final status, and the first transition that finds no attempt left
 * open delivers it.
 *
 * <h2>Threading</h2>
 *
 * <p>All state is guarded by {@code lock}. Nothing calls into gRPC, the application, the
 * classifier, the budget or the jitter source while holding it (the scheduler's {@code schedule}
 * and {@code cancel} are the exception: they only queue or unqueue a task). Operations reach the
 * attempts through one outbound pump: one thread at a time sends to all attempts, in log order, so
 * that a replay and the operations the application adds meanwhile go out in order, and our own
 * cancellations never race the application's sends. Callbacks reach the application one at a
 * time ({@code delivering} and its queue), never after {@code onClose}. Work this class starts by
 * itself (an attempt after a timer, a close during backoff) runs on the executor from the call's
 * {@link CallOptions} when there is one, so that blocking stubs wake up.
 */
final class RetryingCall<ReqT, RespT> extends ClientCall<ReqT, RespT> {
  static final Metadata.Key<String> PREVIOUS_ATTEMPTS_KEY =
      Metadata.Key.of("grpc-previous-rpc-attempts", Metadata.ASCII_STRING_MARSHALLER);

  private static final Logger logger = Logger.getLogger(RetryingCall.class.getName());

  /** Where the call as a whole stands; it never goes back to an earlier phase than COMMITTED. */
  enum Phase {
    /** Before {@code start}. */
    NEW,
    /**
     * Not committed, and some attempt may still win: one is in flight, being started, being
     * judged, or a hedge is being granted. Outbound operations are recorded for replay.
     */
    ATTEMPTING,
    /** Not committed and nothing can win: waiting for the timer of the next attempt. */
    BACKOFF,
    /** Bound to one attempt, the winner; the others are abandoned; nothing is recorded. */
    COMMITTED,
    /** The final status is fixed; waiting for the last attempts to close. */
    CLOSING,
    /** {@code onClose} has been handed to the application. */
    CLOSED
  }

  /** What the application has done to its side of the call, as {@code ClientCallImpl} checks it. */
  private enum AppSide {
    OPEN,
    HALF_CLOSED,
    CANCELLED
  }

  /** Who runs a transition: decides how the effects that touch the application are run. */
  private enum Caller {
    /** A callback of an attempt, on that attempt's callback executor: everything runs inline. */
    CALLBACK,
    /** The application: sends run inline, our own callbacks go through the call's executor. */
    APPLICATION,
    /** A timer or another thread of ours: everything goes through the call's executor. */
    TIMER
  }

  // Effects: what a transition leaves for the thread that made it to do once the lock is released.
  private static final int FX_PUMP = 1;
  private static final int FX_CLOSE = 2;
  private static final int FX_WATCH = 4;
  private static final int FX_HEDGE = 8;

  // The kinds of work of the outbound pump.
  private static final int W_START = 1;
  private static final int W_REQUEST = 2;
  private static final int W_SEND = 3;
  private static final int W_CANCEL = 4;
  private static final int W_DRAIN = 5;
  private static final int W_READY = 6;

  // The kinds of application callbacks.
  private static final int CB_HEADERS = 1;
  private static final int CB_MESSAGE = 2;
  private static final int CB_READY = 3;

  private final CallRuntime runtime;
  private final MethodPlan plan;
  private final Judge judge;
  private final MethodDescriptor<ReqT, RespT> method;
  private final Channel next;
  private final RetryBudget budget;
  private final @Nullable Executor callExecutor;
  private final Object lock = new Object();

  // Set in start(), under the lock, then only read.
  private CallOptions attemptOptions;
  private @Nullable Listener<RespT> app;
  private @Nullable Metadata pristineHeaders;
  /** The application's own headers object, given to the first attempt. */
  private @Nullable Metadata firstHeaders;
  private Context context = Context.ROOT;
  private long deadlineNanos = Judge.NO_DEADLINE;

  // Guarded by lock. The phase is volatile so that sendMessage can skip measuring without it.
  private volatile Phase phase = Phase.NEW;
  private AppSide appSide = AppSide.OPEN;
  /** The attempts not yet closed, in the order they were created. */
  private final ArrayList<Attempt<ReqT, RespT>> attempts = new ArrayList<>(2);
  private int attemptsMade;
  /** Hedges granted a number but still waiting for the budget's answer, outside the lock. */
  private int hedgesReserved;
  private @Nullable Attempt<ReqT, RespT> winner;
  /** Why the call was committed before any answer (the buffer limit), or null. */
  private @Nullable String commitNote;
  private final OutboundLog log = new OutboundLog();
  /** The application's request(n) calls, summed. */
  private int requested;
  private long bufferedBytes;
  /** Set once the request outgrew the replay buffer: no new attempt may start. */
  private @Nullable String bufferLimitReason;
  private int backoffRetries;
  private long previousBackoffNanos;
  /** The backoff before a retry or the delay before the next hedge; 0 when none is armed. */
  private int nextAttemptGeneration;
  private int generations;
  private @Nullable ScheduledFuture<?> nextAttemptTimer;
  /** Hedging: why no further hedge may be sent, and the upstream marker if for overload. */
  private @Nullable String noMoreHedges;
  private @Nullable String noMoreHedgesOverload;
  private @Nullable Status lastStatus;
  private @Nullable Metadata lastTrailers;
  /** A per-attempt timeout passed and the attempt was kept running: why, for the final status. */
  private @Nullable String keptNote;
  private @Nullable Status closeStatus;
  private @Nullable Metadata closeTrailers;
  /** Whether a thread is running an application callback; the others queue theirs. */
  private boolean delivering;
  private @Nullable ArrayDeque<Runnable> queued;
  /** Whether a thread holds the outbound pump. */
  private boolean pumping;
  private Context.@Nullable CancellationListener contextListener;

  // The pump's current work: written under the lock by the thread that holds the pump.
  private @Nullable Attempt<ReqT, RespT> workAttempt;
  private int workKind;
  private @Nullable Object workEntry;
  private int workCount;

  RetryingCall(
      CallRuntime runtime,
      MethodPlan plan,
      MethodDescriptor<ReqT, RespT> method,
      CallOptions callOptions,
      Channel next,
      RetryBudget budget) {
    this.runtime = runtime;
    this.plan = plan;
    this.judge = Objects.requireNonNull(plan.judge, "judge");
    this.method = method;
    this.attemptOptions = callOptions;
    this.next = next;
    this.budget = budget;
    this.callExecutor = callOptions.getExecutor();
  }

  // ---------------------------------------------------------------------------------------------
  // The application's side.

  @Override
  public void start(Listener<RespT> responseListener, Metadata headers) {
    Objects.requireNonNull(responseListener, "responseListener");
    Objects.requireNonNull(headers, "headers");
    // The channel changes the headers it is given: keep a pristine copy for later attempts.
    Metadata copy = new Metadata();
    copy.merge(headers);
    Context ctx = Context.current();
    int fx;
    synchronized (lock) {
      if (phase != Phase.NEW) {
        throw new IllegalStateException("Already started");
      }
      if (appSide == AppSide.CANCELLED) {
        throw new IllegalStateException("call was cancelled");
      }
      app = responseListener;
      pristineHeaders = copy;
      firstHeaders = headers;
      context = ctx;
      fixDeadline(ctx);
      phase = Phase.ATTEMPTING;
      newAttempt();
      fx = plan.hedging != null ? planNextHedge() : 0;
      fx |= effects();
    }
    runEffects(fx, Caller.APPLICATION);
  }

  @Override
  public void request(int numMessages) {
    if (numMessages < 0) {
      throw new IllegalArgumentException("numMessages must be >= 0: " + numMessages);
    }
    int fx;
    synchronized (lock) {
      if (phase == Phase.NEW) {
        throw new IllegalStateException("Not started");
      }
      int sum = requested + numMessages;
      requested = sum < 0 ? Integer.MAX_VALUE : sum;
      fx = effects();
    }
    runEffects(fx, Caller.APPLICATION);
  }

  @Override
  public void sendMessage(ReqT message) {
    Phase now = phase;
    // Only a call that may still be retried needs the size; after that, measuring is wasted work.
    long size =
        now == Phase.ATTEMPTING || now == Phase.BACKOFF ? MessageSizes.sizeOf(method, message) : 0;
    outbound(message, size, false);
  }

  @Override
  public void halfClose() {
    outbound(Control.HALF_CLOSE, 0, false);
  }

  @Override
  public void setMessageCompression(boolean enabled) {
    outbound(enabled ? Control.COMPRESSION_ON : Control.COMPRESSION_OFF, 0, true);
  }

  /** Logs an outbound operation and lets the pump send it to the attempts that need it. */
  private void outbound(Object entry, long size, boolean compression) {
    int fx;
    synchronized (lock) {
      if (phase == Phase.NEW) {
        throw new IllegalStateException("Not started");
      }
      if (!compression) {
        // The checks and messages of grpc-java's ClientCallImpl, so that misuse reads the same.
        if (appSide == AppSide.CANCELLED) {
          throw new IllegalStateException("call was cancelled");
        }
        if (appSide == AppSide.HALF_CLOSED) {
          throw new IllegalStateException(
              entry == Control.HALF_CLOSE ? "call already half-closed" : "call was half-closed");
        }
        if (entry == Control.HALF_CLOSE) {
          appSide = AppSide.HALF_CLOSED;
        }
      }
      if (phase == Phase.CLOSING || phase == Phase.CLOSED) {
        return;
      }
      log.append(entry);
      if (size > 0 && recording()) {
        account(size);
      }
      fx = effects();
    }
    runEffects(fx, Caller.APPLICATION);
  }

  @Override
  public boolean isReady() {
    ClientCall<ReqT, RespT> only = null;
    ArrayList<ClientCall<ReqT, RespT>> several = null;
    synchronized (lock) {
      if (appSide != AppSide.OPEN) {
        return false;
      }
      for (int i = 0; i < attempts.size(); i++) {
        Attempt<ReqT, RespT> attempt = attempts.get(i);
        if (readinessCounts(attempt)) {
          if (only == null) {
            only = attempt.call;
          } else {
            if (several == null) {
              several = new ArrayList<>(2);
            }
            several.add(attempt.call);
          }
        }
      }
    }
    if (only != null && only.isReady()) {
      return true;
    }
    if (several != null) {
      for (ClientCall<ReqT, RespT> call : several) {
        if (call.isReady()) {
          return true;
        }
      }
    }
    return false;
  }

  @Override
  public Attributes getAttributes() {
    ClientCall<ReqT, RespT> call = null;
    synchronized (lock) {
      if (winner != null) {
        call = winner.call;
      } else {
        for (int i = 0; i < attempts.size() && call == null; i++) {
          call = attempts.get(i).call;
        }
      }
    }
    return call == null ? Attributes.EMPTY : call.getAttributes();
  }

  @Override
  public void cancel(@Nullable String message, @Nullable Throwable cause) {
    Status status = Status.CANCELLED;
    if (message != null) {
      status = status.withDescription(message);
    } else if (cause == null) {
      status = status.withDescription("Call cancelled without message");
    }
    if (cause != null) {
      status = status.withCause(cause);
    }
    int fx;
    synchronized (lock) {
      if (appSide == AppSide.CANCELLED) {
        return;
      }
      appSide = AppSide.CANCELLED;
      switch (phase) {
        case NEW:
          return; // start() refuses to run now, as ClientCallImpl's does.
        case ATTEMPTING:
        case BACKOFF:
          beginClose(status, new Metadata(), message, cause);
          break;
        case COMMITTED:
          Attempt<ReqT, RespT> bound = winner;
          if (bound.stage == Stage.PENDING) {
            closeAttempt(bound);
            beginClose(status, new Metadata(), message, cause);
          } else {
            // The winner's own close, whatever it is, ends the call: what a plain call would do.
            bound.orderCancel(message, cause);
          }
          break;
        default:
          return;
      }
      fx = effects();
    }
    runEffects(fx, Caller.APPLICATION);
  }

  @Override
  public String toString() {
    return "RetryingCall{" + method.getFullMethodName() + ", " + phase + '}';
  }

  // ---------------------------------------------------------------------------------------------
  // Callbacks of the attempts.

  void attemptHeaders(Attempt<ReqT, RespT> attempt, Metadata headers) {
    response(attempt, CB_HEADERS, headers);
  }

  void attemptMessage(Attempt<ReqT, RespT> attempt, RespT message) {
    response(attempt, CB_MESSAGE, message);
  }

  /**
   * Response headers or a message from {@code attempt}: passed on if it is the winner; if the call
   * is not committed yet, the attempt wins it (whatever our timers did meanwhile: what the server
   * sent decides); dropped otherwise.
   */
  private void response(Attempt<ReqT, RespT> attempt, int kind, Object payload) {
    int fx;
    synchronized (lock) {
      if (phase == Phase.COMMITTED && winner == attempt) {
        if (!enterDelivery(kind, payload)) {
          return;
        }
        fx = -1;
      } else if ((phase == Phase.ATTEMPTING || phase == Phase.BACKOFF)
          && attempt.fate != Fate.ABANDONED
          && (attempt.stage == Stage.REPLAYING || attempt.stage == Stage.LIVE)) {
        commitTo(attempt, null);
        fx = effects();
      } else {
        return;
      }
    }
    if (fx >= 0 && !committed(attempt, kind, payload, fx)) {
      return;
    }
    invoke(kind, payload);
    exitDelivery();
  }

  /**
   * After {@code attempt} won the call: cancels the others, tells the budget of the success, and
   * claims the listener for the response that won; returns false if the response must not be
   * delivered (the budget threw, or another thread delivers it).
   */
  private boolean committed(Attempt<ReqT, RespT> attempt, int kind, Object payload, int fx) {
    runEffects(fx, Caller.CALLBACK);
    try {
      UserCode.recordOutcome(budget, attempt.number, RetryBudget.Outcome.SUCCESS);
    } catch (UserCode.Failure e) {
      fail(e.status, Caller.CALLBACK);
      return false;
    }
    synchronized (lock) {
      return phase == Phase.COMMITTED && winner == attempt && enterDelivery(kind, payload);
    }
  }

  void attemptReady(Attempt<ReqT, RespT> attempt) {
    deliverReady(attempt);
  }

  void attemptClosed(Attempt<ReqT, RespT> attempt, Status status, Metadata trailers) {
    Judge.Case judged = null;
    int fx = 0;
    synchronized (lock) {
      if (attempt.stage == Stage.CLOSED || attempt.stage == Stage.JUDGING) {
        return; // Closed already, by us (its start failed) or by an earlier close.
      }
      switch (phase) {
        case COMMITTED:
          if (attempt == winner && commitNote != null && !status.isOk()) {
            judged = judging(attempt, Judge.Mode.OVERFLOW_COMMITTED_FAILED, status, trailers, commitNote);
            break;
          }
          closeAttempt(attempt);
          if (attempt == winner) {
            beginClose(winnerStatus(attempt, status), trailers, null, null);
          }
          break;
        case ATTEMPTING:
        case BACKOFF:
          if (attempt.fate == Fate.ABANDONED) {
            closeAttempt(attempt);
            settle();
            break;
          }
          Judge.Mode mode;
          if (status.isOk()) {
            mode = Judge.Mode.CLOSED_OK;
          } else if (attempt.fate == Fate.TIMED_OUT) {
            mode =
                isTimeoutEcho(status)
                    ? Judge.Mode.TIMED_OUT_CANCELLED
                    : Judge.Mode.TIMED_OUT_ANSWERED;
          } else {
            mode = Judge.Mode.CLOSED;
            lastStatus = status;
            lastTrailers = trailers;
          }
          judged = judging(attempt, mode, status, trailers, bufferLimitReason);
          break;
        default:
          closeAttempt(attempt);
          break;
      }
      if (judged == null) {
        fx = effects();
      }
    }
    if (judged != null) {
      apply(attempt, judge.judge(judged), status, trailers, Caller.CALLBACK);
    } else {
      runEffects(fx, Caller.CALLBACK);
    }
  }

  /** An attempt we cancelled for its timeout closes with CANCELLED, or DEADLINE_EXCEEDED. */
  private static boolean isTimeoutEcho(Status status) {
    return status.getCode() == Status.Code.CANCELLED
        || status.getCode() == Status.Code.DEADLINE_EXCEEDED;
  }

  /** The winner's own close, as the application gets it. */
  private Status winnerStatus(Attempt<ReqT, RespT> attempt, Status status) {
    if (attempt.fate == Fate.TIMED_OUT && isTimeoutEcho(status)) {
      // It answered after we had cancelled it for its timeout, and the cancellation cut it short.
      return Judge.perAttemptTimeoutStatus(plan.perAttemptTimeoutNanos);
    }
    return status;
  }

  /** Moves {@code attempt} to JUDGING and takes the judge's snapshot (under lock). */
  private Judge.Case judging(
      Attempt<ReqT, RespT> attempt,
      Judge.Mode mode,
      Status status,
      Metadata trailers,
      @Nullable String stopReason) {
    attempt.stage = Stage.JUDGING;
    cancelTimer(attempt);
    return new Judge.Case(
        mode,
        attempt.number,
        status,
        trailers,
        attemptsMade,
        stopReason,
        backoffRetries,
        previousBackoffNanos,
        deadlineNanos,
        context,
        budget);
  }

  /** Applies the judge's verdict on the end of {@code attempt}, in one transition. */
  private void apply(
      Attempt<ReqT, RespT> attempt, Verdict verdict, Status status, Metadata trailers, Caller caller) {
    int fx = 0;
    synchronized (lock) {
      closeAttempt(attempt);
      boolean open = phase == Phase.ATTEMPTING || phase == Phase.BACKOFF;
      boolean decides = open || (phase == Phase.COMMITTED && winner == attempt);
      switch (verdict.kind()) {
        case FAIL:
          if (decides) {
            beginClose(verdict.status(), new Metadata(), verdict.status().getDescription(), verdict.status().getCause());
          } else {
            logger.log(
                Level.WARNING,
                "user code failed while judging an attempt that no longer mattered: "
                    + verdict.status(),
                verdict.status().getCause());
          }
          break;
        case SUCCEED:
          if (open) {
            commitTo(attempt, null);
            beginClose(status, trailers, null, null);
          }
          break;
        case STOP:
          if (decides) {
            beginClose(decorate(verdict), withMarker(trailers, verdict.overload()), null, null);
          }
          break;
        case RETRY:
          if (open) {
            if (bufferLimitReason != null) {
              beginClose(giveUpStatus(status, bufferLimitReason), trailers, null, null);
            } else {
              startOver(verdict);
              if (verdict.delayNanos() == 0) {
                newAttempt();
              } else {
                armNextAttempt(verdict.delayNanos());
              }
            }
          }
          break;
        case HEDGE_NOW:
          if (open && hedgeAllowed()) {
            cancelNextAttemptTimer();
            fx |= reserveHedge();
          }
          break;
        case HEDGE_AFTER:
          if (open && hedgeAllowed()) {
            cancelNextAttemptTimer();
            if (fitsDeadline(verdict.delayNanos())) {
              armNextAttempt(verdict.delayNanos());
            }
          }
          break;
        case NO_MORE_HEDGES:
          if (open && noMoreHedges == null) {
            noMoreHedges = verdict.reason();
            noMoreHedgesOverload = verdict.overload();
            cancelNextAttemptTimer();
          }
          break;
        case NOTHING:
          break;
        default:
          throw new AssertionError(verdict);
      }
      settle();
      fx |= effects();
    }
    runEffects(fx, caller);
  }

  // ---------------------------------------------------------------------------------------------
  // Timers.

  /** The per-attempt timer of {@code attempt} fired. */
  private void attemptTimerFired(Attempt<ReqT, RespT> attempt) {
    Judge.Case timedOut;
    Status timeout = Judge.perAttemptTimeoutStatus(plan.perAttemptTimeoutNanos);
    synchronized (lock) {
      attempt.timer = null;
      if (!stillRacing(attempt)) {
        return;
      }
      timedOut =
          new Judge.Case(
              Judge.Mode.TIMER,
              attempt.number,
              timeout,
              new Metadata(),
              attemptsMade,
              bufferLimitReason,
              backoffRetries,
              previousBackoffNanos,
              deadlineNanos,
              context,
              budget);
    }
    Verdict verdict = judge.judge(timedOut);
    int fx;
    synchronized (lock) {
      // An answer may have come meanwhile: then the verdict is moot (a granted retry is unused).
      if (stillRacing(attempt)) {
        switch (verdict.kind()) {
          case REPLACE:
            attempt.fate = Fate.TIMED_OUT;
            attempt.orderCancel(timeout.getDescription(), null);
            lastStatus = timeout;
            lastTrailers = new Metadata();
            startOver(verdict);
            if (verdict.delayNanos() == 0) {
              newAttempt();
            } else {
              armNextAttempt(verdict.delayNanos());
            }
            settle();
            break;
          case KEEP:
            keptNote =
                "the per-attempt timeout ("
                    + Duration.ofNanos(plan.perAttemptTimeoutNanos)
                    + ") of attempt "
                    + attempt.number
                    + " passed and it was kept running because "
                    + verdict.reason();
            break;
          case FAIL:
            beginClose(verdict.status(), new Metadata(), verdict.status().getDescription(), verdict.status().getCause());
            break;
          default:
            throw new AssertionError(verdict);
        }
      }
      fx = effects();
    }
    runEffects(fx, Caller.TIMER);
  }

  /** Whether the attempt is in flight and may still win the call (under lock). */
  private boolean stillRacing(Attempt<ReqT, RespT> attempt) {
    return phase == Phase.ATTEMPTING
        && attempt.fate == Fate.CONTENDING
        && attempt.cancel == CancelOrder.NONE
        && (attempt.stage == Stage.REPLAYING || attempt.stage == Stage.LIVE);
  }

  /** The backoff before a retry, or the delay before the next hedge, has passed. */
  private void nextAttemptDue(int generation) {
    int fx = 0;
    synchronized (lock) {
      if (generation != nextAttemptGeneration) {
        return; // Cancelled, or replaced by a later timer.
      }
      nextAttemptGeneration = 0;
      nextAttemptTimer = null;
      if (plan.hedging != null) {
        fx = reserveHedge();
        settle();
      } else if (deadlineNanos != Judge.NO_DEADLINE && runtime.ticker.nanoTime() >= deadlineNanos) {
        beginClose(
            withLastAttempt(
                Status.DEADLINE_EXCEEDED.withDescription(
                    "grpc-retry: the call's deadline passed during backoff"),
                lastStatus),
            lastTrailersOrEmpty(),
            null,
            null);
      } else if (bufferLimitReason != null) {
        beginClose(giveUpStatus(lastStatus, bufferLimitReason), lastTrailersOrEmpty(), null, null);
      } else {
        newAttempt();
        phase = Phase.ATTEMPTING;
      }
      fx |= effects();
    }
    runEffects(fx, Caller.TIMER);
  }

  /** Arms the timer of the next attempt (under lock). */
  private void armNextAttempt(long delayNanos) {
    cancelNextAttemptTimer();
    int generation = ++generations;
    if (generation == 0) {
      generation = ++generations;
    }
    int armed = generation;
    try {
      nextAttemptTimer =
          runtime.scheduler.schedule(() -> nextAttemptDue(armed), delayNanos, TimeUnit.NANOSECONDS);
      nextAttemptGeneration = generation;
    } catch (RejectedExecutionException e) {
      beginClose(
          Status.INTERNAL
              .withDescription("grpc-retry: the scheduler rejected the timer of the next attempt")
              .withCause(e),
          new Metadata(),
          "grpc-retry: the scheduler rejected a timer",
          e);
    }
  }

  /** Disarms the timer of the next attempt, if any (under lock). */
  private void cancelNextAttemptTimer() {
    nextAttemptGeneration = 0;
    if (nextAttemptTimer != null) {
      nextAttemptTimer.cancel(false);
      nextAttemptTimer = null;
    }
  }

  /** Arms the per-attempt timer of an attempt that is about to start (under lock). */
  private void armAttemptTimer(Attempt<ReqT, RespT> attempt) {
    long timeout = plan.perAttemptTimeoutNanos;
    if (timeout == 0) {
      return;
    }
    if (deadlineNanos != Judge.NO_DEADLINE
        && Judge.saturatedAdd(runtime.ticker.nanoTime(), timeout) >= deadlineNanos) {
      return; // The call's deadline comes first; the channel enforces it.
    }
    try {
      attempt.timer =
          runtime.scheduler.schedule(
              () -> attemptTimerFired(attempt), timeout, TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      logger.log(
          Level.WARNING,
          "the scheduler rejected a per-attempt timer; the attempt runs to the call's deadline",
          e);
    }
  }

  private static void cancelTimer(Attempt<?, ?> attempt) {
    if (attempt.timer != null) {
      attempt.timer.cancel(false);
      attempt.timer = null;
    }
  }

  /** Starts the backoff sequence over after a server-chosen delay, or advances it (under lock). */
  private void startOver(Verdict verdict) {
    if (verdict.serverDelay()) {
      // gRFC A6: a server-chosen delay starts the backoff sequence over.
      backoffRetries = 0;
      previousBackoffNanos = 0;
    } else {
      backoffRetries++;
      previousBackoffNanos = verdict.delayNanos();
    }
  }

  private boolean fitsDeadline(long delayNanos) {
    return deadlineNanos == Judge.NO_DEADLINE
        || Judge.saturatedAdd(runtime.ticker.nanoTime(), delayNanos) < deadlineNanos;
  }

  // ---------------------------------------------------------------------------------------------
  // Hedging.

  /** After a hedge (or the first attempt) was created: plans the next one (under lock). */
  private int planNextHedge() {
    HedgingPolicy hedging = plan.hedging;
    if (!hedgeAllowed()) {
      return 0;
    }
    if (hedging.hedgingDelayNanos == 0) {
      return reserveHedge();
    }
    if (fitsDeadline(hedging.hedgingDelayNanos)) {
      armNextAttempt(hedging.hedgingDelayNanos);
    }
    return 0;
  }

  /** Whether another hedge may be sent, budget aside (under lock). */
  private boolean hedgeAllowed() {
    return (phase == Phase.ATTEMPTING || phase == Phase.BACKOFF)
        && noMoreHedges == null
        && bufferLimitReason == null
        && attemptsMade + hedgesReserved < plan.hedging.maxAttempts();
  }

  /**
   * Takes a number for the next hedge (under lock), so that the limit holds while the budget is
   * asked outside the lock; returns the effect that asks it.
   */
  private int reserveHedge() {
    if (!hedgeAllowed()
        || (deadlineNanos != Judge.NO_DEADLINE && runtime.ticker.nanoTime() >= deadlineNanos)) {
      return 0;
    }
    hedgesReserved++;
    phase = Phase.ATTEMPTING;
    return FX_HEDGE;
  }

  /** Asks the budget for the hedge this thread reserved, then creates it. */
  private void sendReservedHedge(Caller caller) {
    while (true) {
      boolean granted = false;
      Status failure = null;
      try {
        granted = UserCode.tryAcquire(budget, RetryBudget.AttemptKind.HEDGE);
      } catch (UserCode.Failure e) {
        failure = e.status;
      }
      int fx;
      synchronized (lock) {
        hedgesReserved--;
        if (phase == Phase.ATTEMPTING || phase == Phase.BACKOFF) {
          if (failure != null) {
            beginClose(failure, new Metadata(), failure.getDescription(), failure.getCause());
          } else if (!granted) {
            if (noMoreHedges == null) {
              noMoreHedges = "the retry budget refused another attempt";
              noMoreHedgesOverload = "budget";
            }
          } else if (bufferLimitReason == null && noMoreHedges == null) {
            newAttempt();
            phase = Phase.ATTEMPTING;
            cancelNextAttemptTimer();
          }
        }
        fx = phase == Phase.ATTEMPTING && granted ? planNextHedge() : 0;
        settle();
        fx |= effects();
      }
      runEffects(fx & ~FX_HEDGE, caller);
      if ((fx & FX_HEDGE) == 0) {
        return;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions shared by several events (all under lock).

  private void newAttempt() {
    Attempt<ReqT, RespT> attempt = new Attempt<>(this, ++attemptsMade);
    attempts.add(attempt);
  }

  /** Commits the call to {@code attempt}: the others are abandoned, recording stops. */
  private void commitTo(Attempt<ReqT, RespT> attempt, @Nullable String note) {
    phase = Phase.COMMITTED;
    winner = attempt;
    commitNote = note;
    if (attempt.fate == Fate.TIMED_OUT && attempt.cancel == CancelOrder.PENDING) {
      // Its cancellation has not gone out yet: take it back, the attempt is wanted after all.
      attempt.fate = Fate.CONTENDING;
      attempt.cancel = CancelOrder.NONE;
      attempt.cancelMessage = null;
    }
    cancelTimer(attempt);
    releaseRecording();
    cancelNextAttemptTimer();
    for (int i = attempts.size() - 1; i >= 0; i--) {
      Attempt<ReqT, RespT> other = attempts.get(i);
      if (other != attempt) {
        abandon(other, "grpc-retry: another attempt won", null);
      }
    }
  }

  /** Gives up on an attempt: its callbacks are dropped and it is cancelled and drained. */
  private void abandon(Attempt<ReqT, RespT> attempt, @Nullable String message, @Nullable Throwable cause) {
    if (attempt.fate == Fate.ABANDONED) {
      return;
    }
    attempt.fate = Fate.ABANDONED;
    cancelTimer(attempt);
    if (attempt.stage == Stage.PENDING) {
      closeAttempt(attempt); // Never started: nothing else would close it.
    } else if (attempt.stage == Stage.REPLAYING || attempt.stage == Stage.LIVE) {
      attempt.orderCancel(message, cause);
    }
  }

  private void closeAttempt(Attempt<ReqT, RespT> attempt) {
    attempt.stage = Stage.CLOSED;
    cancelTimer(attempt);
    attempts.remove(attempt);
  }

  /**
   * Fixes the call's final status; every attempt still open is abandoned, and the close is
   * delivered by the transition that sees the last one close.
   */
  private void beginClose(
      Status status, Metadata trailers, @Nullable String message, @Nullable Throwable cause) {
    phase = Phase.CLOSING;
    closeStatus = status;
    closeTrailers = trailers;
    releaseRecording();
    cancelNextAttemptTimer();
    String why = message != null || cause != null ? message : "grpc-retry: the call ended";
    for (int i = attempts.size() - 1; i >= 0; i--) {
      abandon(attempts.get(i), why, cause);
    }
  }

  /**
   * After an event of a call that is not committed: decides between ATTEMPTING and BACKOFF, and
   * gives up when nothing could ever start or win an attempt again, which no later event would
   * notice. This check is what keeps a call from hanging.
   */
  private void settle() {
    if (phase != Phase.ATTEMPTING && phase != Phase.BACKOFF) {
      return;
    }
    for (int i = 0; i < attempts.size(); i++) {
      if (attempts.get(i).fate == Fate.CONTENDING) {
        phase = Phase.ATTEMPTING;
        return;
      }
    }
    if (hedgesReserved > 0) {
      phase = Phase.ATTEMPTING;
      return;
    }
    if (nextAttemptGeneration != 0) {
      phase = Phase.BACKOFF;
      return;
    }
    Metadata trailers = lastTrailersOrEmpty();
    if (noMoreHedgesOverload != null) {
      trailers.put(UpstreamPushbackInterceptor.GAVE_UP_KEY, noMoreHedgesOverload);
    }
    beginClose(giveUpStatus(lastStatus, exhaustedReason()), trailers, null, null);
  }

  private String exhaustedReason() {
    if (noMoreHedges != null) {
      return noMoreHedges;
    }
    if (bufferLimitReason != null) {
      return bufferLimitReason;
    }
    if (attemptsMade >= plan.policy.maxAttempts()) {
      return "maxAttempts (" + plan.policy.maxAttempts() + ") reached";
    }
    return plan.hedging != null
        ? "the next hedge would start at or after the deadline"
        : "no further attempt could start";
  }

  // ---------------------------------------------------------------------------------------------
  // The replay buffer (under lock).

  private boolean recording() {
    return (phase == Phase.ATTEMPTING || phase == Phase.BACKOFF) && bufferLimitReason == null;
  }

  private void account(long size) {
    long perCall = bufferedBytes + size;
    BufferMeter buffers = runtime.buffers;
    if (perCall > buffers.perCallLimit || perCall < 0) {
      overflow(buffers.perCallLimitReason());
    } else if (!buffers.tryReserve(size)) {
      overflow(buffers.totalLimitReason());
    } else {
      bufferedBytes = perCall;
    }
  }

  /**
   * The request outgrew the replay buffer: no later attempt could be given all of it. The oldest
   * attempt that may still win is committed to (for hedging as for retrying), so that what it has
   * been sent can be let go; with none in flight the call gives up.
   */
  private void overflow(String reason) {
    releaseRecording();
    bufferLimitReason = reason;
    cancelNextAttemptTimer();
    for (int i = 0; i < attempts.size(); i++) {
      Attempt<ReqT, RespT> attempt = attempts.get(i);
      if (attempt.fate == Fate.CONTENDING
          && attempt.cancel == CancelOrder.NONE
          && attempt.stage != Stage.JUDGING) {
        commitTo(attempt, reason);
        return;
      }
    }
    if (phase == Phase.BACKOFF) {
      beginClose(giveUpStatus(lastStatus, reason), lastTrailersOrEmpty(), null, null);
    }
    // Otherwise an attempt is being judged: its verdict sees bufferLimitReason.
  }

  private void releaseRecording() {
    if (bufferedBytes > 0) {
      runtime.buffers.release(bufferedBytes);
      bufferedBytes = 0;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Effects.

  /**
   * At the end of a transition (under lock): claims what must be done once the lock is released.
   * Each effect is claimed by one thread only.
   */
  private int effects() {
    int fx = 0;
    if (phase == Phase.CLOSING && attempts.isEmpty()) {
      phase = Phase.CLOSED;
      log.clear();
      fx |= FX_CLOSE;
    } else if (!pumping && pickWork()) {
      pumping = true;
      fx |= FX_PUMP;
    }
    if (phase == Phase.BACKOFF && contextListener == null && context != Context.ROOT) {
      // Attempts in flight see the Context's cancellation through the channel; during backoff
      // nothing is in flight, so the call watches it itself.
      contextListener = this::contextCancelled;
      fx |= FX_WATCH;
    }
    return fx;
  }

  private void runEffects(int fx, Caller caller) {
    if (fx == 0) {
      return;
    }
    if ((fx & FX_WATCH) != 0) {
      watchContext();
    }
    if ((fx & FX_CLOSE) != 0) {
      deliverClose(caller != Caller.CALLBACK);
    }
    if ((fx & FX_PUMP) != 0) {
      if (caller == Caller.TIMER && callExecutor != null) {
        try {
          callExecutor.execute(this::pumpLoop);
        } catch (RejectedExecutionException e) {
          pumpLoop();
        }
      } else {
        pumpLoop();
      }
    }
    if ((fx & FX_HEDGE) != 0) {
      sendReservedHedge(caller);
    }
  }

  /** Ends the call with {@code status}: user code or the application's listener failed. */
  private void fail(Status status, Caller caller) {
    int fx;
    synchronized (lock) {
      if (phase == Phase.NEW || phase == Phase.CLOSING || phase == Phase.CLOSED) {
        return;
      }
      beginClose(status, new Metadata(), status.getDescription(), status.getCause());
      fx = effects();
    }
    runEffects(fx, caller);
  }

  private void watchContext() {
    Context.CancellationListener listener = contextListener;
    // A Context already cancelled runs the listener at once, on this thread, outside the lock.
    context.addListener(listener, Runnable::run);
    boolean closed;
    synchronized (lock) {
      closed = phase == Phase.CLOSED;
    }
    if (closed) {
      context.removeListener(listener);
    }
  }

  private void contextCancelled(Context cancelled) {
    Status status = Contexts.statusFromCancelled(cancelled);
    if (status == null) {
      return;
    }
    int fx;
    synchronized (lock) {
      if (phase != Phase.BACKOFF) {
        return; // Attempts in flight are cancelled by the channel, which watches the same Context.
      }
      beginClose(
          withLastAttempt(status, lastStatus),
          lastTrailersOrEmpty(),
          status.getDescription(),
          status.getCause());
      fx = effects();
    }
    runEffects(fx, Caller.TIMER);
  }

  // ---------------------------------------------------------------------------------------------
  // The outbound pump.

  /**
   * Picks the next operation to send to an attempt (under lock, by the thread that holds or
   * claims the pump): cancellations first, then starts, requests and log entries in order.
   * Returns false when there is none.
   */
  private boolean pickWork() {
    for (int i = 0; i < attempts.size(); i++) {
      Attempt<ReqT, RespT> attempt = attempts.get(i);
      Stage stage = attempt.stage;
      if (stage == Stage.PENDING) {
        if (attempt.fate == Fate.CONTENDING) {
          attempt.stage = Stage.REPLAYING;
          armAttemptTimer(attempt);
          return work(attempt, W_START, null, 0);
        }
        continue;
      }
      if (stage != Stage.REPLAYING && stage != Stage.LIVE) {
        continue;
      }
      if (attempt.cancel == CancelOrder.PENDING) {
        attempt.cancel = attempt.fate == Fate.ABANDONED ? CancelOrder.DRAINED : CancelOrder.SENT;
        return work(attempt, attempt.cancel == CancelOrder.DRAINED ? W_DRAIN : W_CANCEL, null, 0);
      }
      if (attempt.fate == Fate.ABANDONED) {
        if (attempt.cancel == CancelOrder.SENT) {
          attempt.cancel = CancelOrder.DRAINED;
          return work(attempt, W_DRAIN, null, 0);
        }
        continue;
      }
      boolean sends = attempt.fate == Fate.CONTENDING && attempt.cancel == CancelOrder.NONE;
      if ((sends || attempt == winner) && attempt.requestSent < requested) {
        int count = requested - attempt.requestSent;
        attempt.requestSent = requested;
        return work(attempt, W_REQUEST, null, count);
      }
      if (!sends) {
        continue;
      }
      if (attempt.sent < log.end()) {
        return work(attempt, W_SEND, log.get(attempt.sent++), 0);
      }
      if (stage == Stage.REPLAYING) {
        attempt.stage = Stage.LIVE;
        if (attempt.number > 1 || attempt.readyMissed) {
          attempt.readyMissed = false;
          return work(attempt, W_READY, null, 0);
        }
      }
    }
    trimLog();
    return false;
  }

  private boolean work(Attempt<ReqT, RespT> attempt, int kind, @Nullable Object entry, int count) {
    workAttempt = attempt;
    workKind = kind;
    workEntry = entry;
    workCount = count;
    return true;
  }

  /** Drops the log entries that no attempt will read again (under lock). */
  private void trimLog() {
    if (recording() || log.size() == 0) {
      return;
    }
    long keep = log.end();
    for (int i = 0; i < attempts.size(); i++) {
      Attempt<ReqT, RespT> attempt = attempts.get(i);
      if (attempt.fate == Fate.CONTENDING && attempt.cancel == CancelOrder.NONE) {
        keep = Math.min(keep, attempt.sent);
      }
    }
    log.dropBefore(keep);
  }

  /** Sends operations to attempts until there is nothing left to send; holds the pump meanwhile. */
  private void pumpLoop() {
    while (true) {
      Attempt<ReqT, RespT> attempt = workAttempt;
      int kind = workKind;
      Object entry = workEntry;
      int count = workCount;
      workAttempt = null;
      workEntry = null;
      perform(attempt, kind, entry, count);
      synchronized (lock) {
        if (!pickWork()) {
          pumping = false;
          return;
        }
      }
    }
  }

  @SuppressWarnings("unchecked")
  private void perform(Attempt<ReqT, RespT> attempt, int kind, @Nullable Object entry, int count) {
    switch (kind) {
      case W_START:
        startAttempt(attempt);
        return;
      case W_REQUEST:
        try {
          attempt.call.request(count);
        } catch (RuntimeException | Error e) {
          outboundFailed(attempt, "request", e);
        }
        return;
      case W_SEND:
        try {
          if (entry instanceof Control) {
            ((Control) entry).replay(attempt.call);
          } else {
            attempt.call.sendMessage((ReqT) entry);
          }
        } catch (RuntimeException | Error e) {
          outboundFailed(attempt, entry instanceof Control ? entry.toString() : "sendMessage", e);
        }
        return;
      case W_CANCEL:
      case W_DRAIN:
        cancelAttempt(attempt, kind == W_DRAIN);
        return;
      case W_READY:
        ClientCall<ReqT, RespT> call = attempt.call;
        if (call.isReady()) {
          deliverReady(attempt);
        }
        return;
      default:
        throw new AssertionError(kind);
    }
  }

  private void startAttempt(Attempt<ReqT, RespT> attempt) {
    Metadata headers;
    if (attempt.number == 1 && firstHeaders != null) {
      headers = firstHeaders;
      firstHeaders = null;
    } else {
      headers = new Metadata();
      headers.merge(pristineHeaders);
      if (attempt.number > 1) {
        headers.put(PREVIOUS_ATTEMPTS_KEY, Integer.toString(attempt.number - 1));
      }
    }
    ClientCall<ReqT, RespT> call = null;
    Throwable failure = null;
    Context previous = context.attach();
    try {
      call = next.newCall(method, attemptOptions);
      attempt.call = call;
      call.start(attempt, headers);
    } catch (RuntimeException | Error e) {
      failure = e;
    } finally {
      context.detach(previous);
    }
    if (failure != null) {
      startFailed(attempt, call, failure);
    }
  }

  /**
   * Starting an attempt threw (an interceptor below us, say): no close will come from it, so it is
   * closed here, and the call ends with INTERNAL, as the exception would have ended a plain call.
   */
  private void startFailed(
      Attempt<ReqT, RespT> attempt, @Nullable ClientCall<ReqT, RespT> call, Throwable failure) {
    if (call != null) {
      try {
        call.cancel("grpc-retry: starting the attempt failed", failure);
      } catch (RuntimeException | Error e) {
        failure.addSuppressed(e);
      }
    }
    Status status =
        Status.INTERNAL
            .withDescription(
                "grpc-retry: starting attempt " + attempt.number + " on the channel failed: " + failure)
            .withCause(failure);
    int fx;
    synchronized (lock) {
      if (attempt.stage != Stage.CLOSED) {
        closeAttempt(attempt);
      }
      if (phase != Phase.CLOSING && phase != Phase.CLOSED) {
        beginClose(status, new Metadata(), status.getDescription(), failure);
      }
      fx = effects();
    }
    runEffects(fx, Caller.CALLBACK);
  }

  private void outboundFailed(Attempt<ReqT, RespT> attempt, String operation, Throwable failure) {
    fail(
        Status.INTERNAL
            .withDescription(
                "grpc-retry: " + operation + " on attempt " + attempt.number + " failed: " + failure)
            .withCause(failure),
        Caller.CALLBACK);
  }

  /**
   * Cancels an attempt; an abandoned one is also asked for everything its transport still holds,
   * since the in-process transport delivers the close of a stream whose server has finished only
   * once its queued messages are read, and the call waits for every attempt's close.
   */
  private void cancelAttempt(Attempt<ReqT, RespT> attempt, boolean drain) {
    ClientCall<ReqT, RespT> call = attempt.call;
    try {
      call.cancel(attempt.cancelMessage, attempt.cancelCause);
      if (drain) {
        call.request(Integer.MAX_VALUE);
      }
    } catch (RuntimeException | Error e) {
      logger.log(Level.WARNING, "cancelling " + attempt + " of " + this + " failed", e);
      attemptClosed(
          attempt,
          Status.CANCELLED.withDescription("grpc-retry: cancelling the attempt failed").withCause(e),
          new Metadata());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Application callbacks.

  /** Whether an onReady of {@code attempt} reaches the application (under lock). */
  private boolean readinessCounts(Attempt<ReqT, RespT> attempt) {
    if (attempt.stage != Stage.LIVE) {
      return false;
    }
    if (phase == Phase.COMMITTED) {
      return attempt == winner && attempt.cancel == CancelOrder.NONE;
    }
    return phase == Phase.ATTEMPTING
        && attempt.fate == Fate.CONTENDING
        && attempt.cancel == CancelOrder.NONE;
  }

  private void deliverReady(Attempt<ReqT, RespT> attempt) {
    synchronized (lock) {
      if (!readinessCounts(attempt)) {
        if (attempt.stage == Stage.REPLAYING
            && attempt.fate == Fate.CONTENDING
            && (phase == Phase.ATTEMPTING || winner == attempt)) {
          attempt.readyMissed = true; // Delivered by the pump once the attempt has caught up.
        }
        return;
      }
      if (!enterDelivery(CB_READY, null)) {
        return;
      }
    }
    invoke(CB_READY, null);
    exitDelivery();
  }

  /**
   * Claims the application's listener for one callback (under lock); if another thread is inside
   * it, the callback is queued for that thread to run, and this returns false.
   */
  private boolean enterDelivery(int kind, @Nullable Object payload) {
    if (!delivering) {
      delivering = true;
      return true;
    }
    enqueue(() -> invoke(kind, payload));
    return false;
  }

  private void enqueue(Runnable callback) {
    if (queued == null) {
      queued = new ArrayDeque<>(4);
    }
    queued.add(callback);
  }

  /** Runs the callbacks other threads queued meanwhile, then lets go of the listener. */
  private void exitDelivery() {
    while (true) {
      Runnable callback;
      synchronized (lock) {
        callback = queued == null ? null : queued.poll();
        if (callback == null) {
          delivering = false;
          return;
        }
      }
      callback.run();
    }
  }

  @SuppressWarnings("unchecked")
  private void invoke(int kind, @Nullable Object payload) {
    try {
      switch (kind) {
        case CB_HEADERS:
          app.onHeaders((Metadata) payload);
          return;
        case CB_MESSAGE:
          app.onMessage((RespT) payload);
          return;
        case CB_READY:
          app.onReady();
          return;
        default:
          throw new AssertionError(kind);
      }
    } catch (RuntimeException | Error e) {
      appThrew(kind, e);
    }
  }

  /**
   * The application's listener threw: the call is cancelled with the status grpc-java's own
   * ClientCallImpl uses, and nothing more but the close reaches the listener.
   */
  private void appThrew(int kind, Throwable failure) {
    String what =
        kind == CB_HEADERS
            ? "Failed to read headers"
            : kind == CB_MESSAGE ? "Failed to read message." : "Failed to call onReady.";
    Status status = Status.CANCELLED.withDescription(what).withCause(failure);
    int fx;
    synchronized (lock) {
      if (phase == Phase.NEW || phase == Phase.CLOSING || phase == Phase.CLOSED) {
        return;
      }
      if (queued != null) {
        queued.clear();
      }
      beginClose(status, new Metadata(), what, failure);
      fx = effects();
    }
    runEffects(fx, Caller.TIMER);
  }

  private void deliverClose(boolean viaExecutor) {
    Context.CancellationListener listener = contextListener;
    if (listener != null) {
      context.removeListener(listener);
    }
    if (viaExecutor && callExecutor != null) {
      try {
        callExecutor.execute(this::runClose);
        return;
      } catch (RejectedExecutionException e) {
        // Nothing else can run the callback: run it here rather than lose it.
      }
    }
    runClose();
  }

  private void runClose() {
    synchronized (lock) {
      if (delivering) {
        enqueue(this::invokeClose);
        return;
      }
      delivering = true;
    }
    invokeClose();
  }

  private void invokeClose() {
    Status status;
    Metadata trailers;
    synchronized (lock) {
      status = closeStatus;
      trailers = closeTrailers;
    }
    try {
      app.onClose(status, trailers);
    } catch (RuntimeException | Error e) {
      logger.log(Level.WARNING, "Exception thrown by ClientCall.Listener.onClose", e);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Deadlines and statuses.

  /** Fixes the call's deadline: the earlier of the caller's two, else the policy's timeout. */
  private void fixDeadline(Context ctx) {
    Deadline optionsDeadline = attemptOptions.getDeadline();
    Deadline contextDeadline = ctx.getDeadline();
    if (optionsDeadline == null && contextDeadline == null) {
      if (plan.timeoutNanos == 0) {
        return;
      }
      attemptOptions =
          attemptOptions.withDeadline(
              Deadline.after(plan.timeoutNanos, TimeUnit.NANOSECONDS, runtime.ticker));
      deadlineNanos = Judge.saturatedAdd(runtime.ticker.nanoTime(), plan.timeoutNanos);
      return;
    }
    long remaining = Long.MAX_VALUE;
    if (optionsDeadline != null) {
      remaining = optionsDeadline.timeRemaining(TimeUnit.NANOSECONDS);
    }
    if (contextDeadline != null) {
      remaining = Math.min(remaining, contextDeadline.timeRemaining(TimeUnit.NANOSECONDS));
    }
    deadlineNanos = Judge.saturatedAdd(runtime.ticker.nanoTime(), remaining);
  }

  private Metadata lastTrailersOrEmpty() {
    return lastTrailers != null ? lastTrailers : new Metadata();
  }

  private static Metadata withMarker(Metadata trailers, @Nullable String overload) {
    if (overload != null) {
      trailers.put(UpstreamPushbackInterceptor.GAVE_UP_KEY, overload);
    }
    return trailers;
  }

  private Status decorate(Verdict verdict) {
    return verdict.reason() == null
        ? verdict.status()
        : giveUpStatus(verdict.status(), verdict.reason());
  }

  private Status giveUpStatus(@Nullable Status last, String reason) {
    Status base = last != null ? last : Status.UNKNOWN;
    String note =
        "grpc-retry: "
            + attemptsMade
            + (attemptsMade == 1 ? " attempt" : " attempts")
            + " made; not retried because "
            + reason
            + (keptNote == null ? "" : "; " + keptNote);
    String description = base.getDescription();
    return base.withDescription(description == null ? note : description + " [" + note + "]");
  }

  private Status withLastAttempt(Status status, @Nullable Status last) {
    if (last == null) {
      return status;
    }
    String lastText =
        last.getCode() + (last.getDescription() == null ? "" : ": " + last.getDescription());
    String description = status.getDescription();
    return status.withDescription(
        (description == null ? "" : description + " ")
            + "[grpc-retry: "
            + attemptsMade
            + (attemptsMade == 1 ? " attempt" : " attempts")
            + " made; last attempt: "
            + lastText
            + "]");
  }
}
