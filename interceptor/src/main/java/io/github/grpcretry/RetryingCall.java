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
 * <p>The call is in one {@link Phase}; each of its attempts has a {@link Stage}, a {@link Fate}
 * and a {@link CancelOrder} (see {@link Attempt}). Every event is a transition: a method that
 * takes the lock, checks the state it finds, changes it, and claims what must happen once the lock
 * is released (send to attempts, deliver the close, watch the Context, ask the budget for a hedge)
 * as effects that the same thread then carries out. The close reaches the application on one path
 * only: {@link #beginClose} fixes the final status, and the transition that sees the last attempt
 * close delivers it. What only a call that has met a failure needs (the backoff sequence, timers,
 * the history of statuses) lives in a {@link Retrying} created on first need, so that a call that
 * succeeds at once carries none of it.
 *
 * <h2>Threading</h2>
 *
 * <p>All state is guarded by one lock (the outbound log, which never leaves the call). Nothing
 * calls into gRPC, the application, the classifier, the budget or the jitter source while holding
 * it; the scheduler's {@code schedule} and {@code cancel} are the exception, as they only queue or
 * unqueue a task. Operations reach the attempts through one outbound pump: one thread at a time
 * sends to all attempts, in log order, so that a replay and the operations the application adds
 * meanwhile go out in order, and our own cancellations never race the application's sends.
 * Callbacks reach the application one at a time ({@code delivering} and its queue), never after
 * {@code onClose}. Work started by our own timers runs on the executor from the call's {@link
 * CallOptions} when there is one, so that blocking stubs wake up.
 */
final class RetryingCall<ReqT, RespT> extends ClientCall<ReqT, RespT> {
  static final Metadata.Key<String> PREVIOUS_ATTEMPTS_KEY =
      Metadata.Key.of("grpc-previous-rpc-attempts", Metadata.ASCII_STRING_MARSHALLER);

  private static final Logger logger = Logger.getLogger(RetryingCall.class.getName());

  /** Where the call as a whole stands; it never goes back once COMMITTED or later. */
  enum Phase {
    /** Before {@code start}. */
    NEW,
    /**
     * Not committed, and some attempt may still win: one is in flight, waiting to start, being
     * judged, or a hedge is being granted. Outbound operations are recorded for replay.
     */
    ATTEMPTING,
    /** Not committed and nothing can win now: waiting for the timer of the next attempt. */
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

  /** Who runs a transition: decides how the effects that reach the application are run. */
  private enum Caller {
    /** A callback of an attempt, on that attempt's callback executor: everything runs inline. */
    CALLBACK,
    /** The application: sends run inline, our own callbacks go through the call's executor. */
    APPLICATION,
    /** A timer or another thread of ours: everything goes through the call's executor. */
    TIMER
  }

  // Effects: what a transition leaves for the thread that made it, once the lock is released.
  private static final int FX_PUMP = 1;
  private static final int FX_CLOSE = 2;
  /** The close, with the listener already claimed by this thread. */
  private static final int FX_CLOSE_NOW = 4;
  private static final int FX_WATCH = 8;
  private static final int FX_HEDGE = 16;
  private static final int FX_BREAKER = 32;
  private static final int FX_EVENTS = 64;

  // What the pump sends to its attempt in one batch, in this order.
  private static final int W_START = 1;
  private static final int W_REQUEST = 2;
  private static final int W_SEND = 4;
  private static final int W_CANCEL = 8;
  private static final int W_DRAIN = 16;
  private static final int W_READY = 32;

  // The kinds of application callbacks.
  static final int CB_HEADERS = 1;
  static final int CB_MESSAGE = 2;
  private static final int CB_READY = 3;

  private final MethodPlan plan;
  private final MethodDescriptor<ReqT, RespT> method;
  private final Channel next;
  private final RetryBudget budget;
  private final @Nullable CircuitBreaker breaker;
  /** What the listener hears of this call; null when the interceptor has no listener. */
  private final @Nullable CallObserver observer;
  /** The outbound log; private to the call, so it is also the call's lock. */
  private final OutboundLog log = new OutboundLog();

  // Set in start(), under the lock, then only read.
  private CallOptions attemptOptions;
  private @Nullable Listener<RespT> app;
  private @Nullable Metadata pristineHeaders;
  /** The application's own headers object, given to the first attempt. */
  private @Nullable Metadata firstHeaders;
  private Context context = Context.ROOT;
  private long deadlineNanos = Judge.NO_DEADLINE;

  // Guarded by the lock. sendMessage reads phase without it, as a hint only: the phase only moves
  // forward, so a stale value at worst makes it measure a message that needs no measuring.
  private Phase phase = Phase.NEW;
  private AppSide appSide = AppSide.OPEN;
  /** The attempts not yet closed, in the order they were created (linked through Attempt.next). */
  private @Nullable Attempt<ReqT, RespT> attempts;
  private int attemptsMade;
  private @Nullable Attempt<ReqT, RespT> winner;
  /** The application's request(n) calls, summed. */
  private int requested;
  private long bufferedBytes;
  private @Nullable Status closeStatus;
  private @Nullable Metadata closeTrailers;
  /** Whether a thread is running an application callback; the others queue theirs. */
  private boolean delivering;
  private @Nullable ArrayDeque<Runnable> queued;
  /** Whether a thread holds the outbound pump. */
  private boolean pumping;
  private @Nullable Retrying retrying;

  // The pump's current batch: written under the lock by the thread that holds the pump.
  private @Nullable Attempt<ReqT, RespT> workAttempt;
  private int work;
  private int workRequest;
  private Object @Nullable [] workRing;
  private long workFrom;

  /**
   * What a call needs only once it has met a failure, a timer or a limit. Guarded by the call's
   * lock.
   */
  private static final class Retrying {
    int backoffRetries;
    long previousBackoffNanos;
    /** The generation of the armed timer of the next attempt; 0 when none is armed. */
    int timerGeneration;
    int generations;
    @Nullable ScheduledFuture<?> timer;
    /** Hedges that have a number but still wait for the budget's answer, outside the lock. */
    int hedgesReserved;
    /** Hedging: why no further hedge may be sent, and the upstream marker if for overload. */
    @Nullable String noMoreHedges;
    @Nullable String noMoreHedgesOverload;
    @Nullable Status lastStatus;
    @Nullable Metadata lastTrailers;
    /** A per-attempt timeout passed and the attempt was kept running: why, for the final status. */
    @Nullable String keptNote;
    /** Why a failed attempt was not retried while others were still in flight, and the marker. */
    @Nullable String givenUp;
    @Nullable String givenUpOverload;
    /** Set once the request outgrew the replay buffer: no new attempt may start. */
    @Nullable String bufferLimitReason;
    /** Why the call was committed before any answer (the buffer limit), or null. */
    @Nullable String commitNote;
    Context.@Nullable CancellationListener contextListener;
    /** Breaker permissions of attempts that ended unheard of, still to be given back. */
    int breakerReleases;
    /** The armed timer's attempt holds a permission of the breaker (a retry, not a hedge). */
    boolean timerHoldsPermit;
    /** When the timer of the next attempt was armed, on the listener's ticker (listeners only). */
    long timerArmedNanos;
    /** For listeners: what the next attempt will be and what it waited for. */
    RetryListener.AttemptKind nextKind = RetryListener.AttemptKind.RETRY;
    long nextDelayNanos;
    RetryListener.DelaySource nextSource = RetryListener.DelaySource.NONE;
    /** How the attempts that failed ended, in the order they did, for the final status. */
    final ArrayList<String> history = new ArrayList<>(4);
  }

  RetryingCall(
      MethodPlan plan,
      MethodDescriptor<ReqT, RespT> method,
      CallOptions callOptions,
      Channel next,
      RetryBudget budget,
      @Nullable CircuitBreaker breaker) {
    this.plan = plan;
    this.method = method;
    this.attemptOptions = callOptions;
    this.next = next;
    this.budget = budget;
    this.breaker = breaker;
    RetryListener listener = plan.runtime.listener;
    this.observer =
        listener == null
            ? null
            : new CallObserver(
                listener, method.getFullMethodName(), next.authority(), plan.runtime.ticker);
  }

  // ---------------------------------------------------------------------------------------------
  // The application's side.

  @Override
  public void start(Listener<RespT> responseListener, Metadata headers) {
    Objects.requireNonNull(responseListener, "responseListener");
    Objects.requireNonNull(headers, "headers");
    Context ctx = Context.current();
    if (plan.policy.idempotencyKey()) {
      addIdempotencyKey(headers, ctx);
    }
    // The channel changes the headers it is given: keep a pristine copy for later attempts.
    Metadata copy = new Metadata();
    copy.merge(headers);
    Status refused = breaker == null ? null : askBreakerFirst();
    int fx;
    try {
      synchronized (log) {
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
        if (refused != null) {
          // Not sent: the call ends at once, and the layer above is told not to retry it.
          phase = Phase.CLOSING;
          closeStatus = refused;
          closeTrailers = withMarker(new Metadata(), "breaker");
          if (observer != null) {
            observer.refused(0, RetryListener.Refusal.BREAKER, refused.getDescription());
          }
          fx = effects(Caller.APPLICATION);
        } else {
          fixDeadline(ctx);
          phase = Phase.ATTEMPTING;
          newAttempt();
          fx = plan.hedging != null ? planNextHedge() : 0;
          fx |= effects(Caller.APPLICATION);
        }
      }
    } catch (IllegalStateException e) {
      if (breaker != null && refused == null) {
        UserCode.report(breaker, null); // the permission of a call that never starts
      }
      throw e;
    }
    runEffects(fx, Caller.APPLICATION);
  }

  /** Asks the breaker before the first attempt; returns the status of a call it refuses, or null. */
  private @Nullable Status askBreakerFirst() {
    try {
      if (UserCode.tryAcquirePermission(breaker)) {
        return null;
      }
      return Status.UNAVAILABLE.withDescription(
          "grpc-retry: not sent, " + UserCode.describeRejection(breaker));
    } catch (UserCode.Failure e) {
      return e.status;
    }
  }

  /**
   * Puts the call's idempotency key in its headers, where every attempt's copy will have it: the
   * application's own (from the headers, CallOptions or the Context), or a new random one.
   */
  private void addIdempotencyKey(Metadata headers, Context ctx) {
    Metadata.Key<String> header = plan.runtime.idempotencyKeyHeader;
    if (headers.containsKey(header)) {
      return;
    }
    String key = attemptOptions.getOption(RetryInterceptor.IDEMPOTENCY_KEY);
    String from = "CallOptions (RetryInterceptor.IDEMPOTENCY_KEY)";
    if (key == null) {
      key = RetryInterceptor.IDEMPOTENCY_KEY_CONTEXT.get(ctx);
      from = "the Context (RetryInterceptor.IDEMPOTENCY_KEY_CONTEXT)";
    }
    if (key == null) {
      key = IdempotencyKeys.newKey();
    } else {
      IdempotencyKeys.check(key, from);
    }
    headers.put(header, key);
  }

  @Override
  public void request(int numMessages) {
    if (numMessages < 0) {
      throw new IllegalArgumentException("numMessages must be >= 0: " + numMessages);
    }
    int fx;
    synchronized (log) {
      if (phase == Phase.NEW) {
        throw new IllegalStateException("Not started");
      }
      int sum = requested + numMessages;
      requested = sum < 0 ? Integer.MAX_VALUE : sum;
      fx = effects(Caller.APPLICATION);
    }
    if (fx == FX_PUMP) {
      pumpLoop();
    } else {
      runEffects(fx, Caller.APPLICATION);
    }
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
    synchronized (log) {
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
      fx = effects(Caller.APPLICATION);
    }
    if (fx == FX_PUMP) {
      pumpLoop(); // the common case, one frame less
    } else {
      runEffects(fx, Caller.APPLICATION);
    }
  }

  @Override
  public boolean isReady() {
    ClientCall<ReqT, RespT> only = null;
    ArrayList<ClientCall<ReqT, RespT>> several = null;
    synchronized (log) {
      if (appSide != AppSide.OPEN) {
        return false;
      }
      for (Attempt<ReqT, RespT> a = attempts; a != null; a = a.next) {
        if (readinessCounts(a)) {
          if (only == null) {
            only = a.call;
          } else {
            if (several == null) {
              several = new ArrayList<>(2);
            }
            several.add(a.call);
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
    synchronized (log) {
      if (winner != null) {
        call = winner.call;
      }
      for (Attempt<ReqT, RespT> a = attempts; a != null && call == null; a = a.next) {
        call = a.call;
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
    synchronized (log) {
      if (appSide == AppSide.CANCELLED) {
        return;
      }
      appSide = AppSide.CANCELLED;
      switch (phase) {
        case NEW:
          return; // start() refuses to run now, as ClientCallImpl's does.
        case ATTEMPTING:
        case BACKOFF:
          beginClose(status, new Metadata(), status);
          break;
        case COMMITTED:
          Attempt<ReqT, RespT> bound = winner;
          if (bound.stage == Stage.PENDING) {
            closeAttempt(bound, status);
            beginClose(status, new Metadata(), status);
          } else {
            // The winner's own close, whatever it is, ends the call: what a plain call would do.
            bound.orderCancel(status);
          }
          break;
        default:
          return;
      }
      fx = effects(Caller.APPLICATION);
    }
    runEffects(fx, Caller.APPLICATION);
  }

  @Override
  public String toString() {
    return "RetryingCall{" + method.getFullMethodName() + '}';
  }

  // ---------------------------------------------------------------------------------------------
  // Callbacks of the attempts.

  /**
   * Response headers or a message from {@code attempt}: passed on if it is the winner; if the call
   * is not committed yet, the attempt wins it (whatever our timers did meanwhile: what the server
   * sent decides); dropped otherwise.
   */
  void response(Attempt<ReqT, RespT> attempt, int kind, Object payload) {
    boolean won = false;
    boolean owed = false;
    boolean deliver;
    int fx = 0;
    synchronized (log) {
      if (phase == Phase.COMMITTED && winner == attempt) {
        deliver = enterDelivery(kind, payload);
      } else if ((phase == Phase.ATTEMPTING || phase == Phase.BACKOFF)
          && attempt.fate != Fate.ABANDONED
          && (attempt.stage == Stage.REPLAYING || attempt.stage == Stage.LIVE)) {
        commitTo(attempt, null);
        won = true;
        owed = attempt.breakerOwed;
        attempt.breakerOwed = false;
        deliver = enterDelivery(kind, payload);
        fx = effects(Caller.CALLBACK);
      } else {
        return;
      }
    }
    if (won) {
      runEffects(fx, Caller.CALLBACK); // cancels the attempts it beat, if any
    }
    if (deliver) {
      invoke(kind, payload);
    }
    if (won) {
      try {
        UserCode.recordOutcome(budget, attempt.number, RetryBudget.Outcome.SUCCESS);
        if (owed) {
          UserCode.report(breaker, false);
        }
      } catch (UserCode.Failure e) {
        fail(e.status, Caller.CALLBACK);
      }
    }
    if (deliver) {
      exitDelivery();
    }
  }

  void attemptReady(Attempt<ReqT, RespT> attempt) {
    deliverReady(attempt);
  }

  void attemptClosed(Attempt<ReqT, RespT> attempt, Status status, Metadata trailers) {
    Judge.Case judged = null;
    int fx = 0;
    synchronized (log) {
      if (attempt.stage == Stage.CLOSED || attempt.stage == Stage.JUDGING) {
        return; // Closed already: by us when its start failed, or by an earlier close.
      }
      switch (phase) {
        case COMMITTED:
          if (attempt == winner
              && retrying != null
              && retrying.commitNote != null
              && !status.isOk()) {
            judged =
                judging(attempt, Judge.Mode.OVERFLOW_COMMITTED_FAILED, status, trailers, retrying.commitNote);
            break;
          }
          closeAttempt(attempt, status);
          if (attempt == winner) {
            beginClose(winnerStatus(attempt, status), trailers, null);
          }
          break;
        case ATTEMPTING:
        case BACKOFF:
          if (attempt.fate == Fate.ABANDONED) {
            closeAttempt(attempt, status);
            settle();
            break;
          }
          Retrying r = retrying();
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
            r.lastStatus = status;
            r.lastTrailers = trailers;
            r.history.add(status.getCode().name());
          }
          judged = judging(attempt, mode, status, trailers, r.bufferLimitReason);
          break;
        default:
          closeAttempt(attempt, status);
          break;
      }
      if (judged == null) {
        fx = effects(Caller.CALLBACK);
      }
    }
    if (judged != null) {
      apply(attempt, plan.judge.judge(judged), status, trailers);
    } else if (fx == FX_CLOSE_NOW) {
      closeDelivered(fx); // the common case, one frame less
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
    boolean owed = attempt.breakerOwed;
    attempt.breakerOwed = false; // The judge tells the breaker.
    Retrying r = retrying();
    return new Judge.Case(
        mode,
        attempt.number,
        status,
        trailers,
        attemptsMade,
        stopReason,
        r.backoffRetries,
        r.previousBackoffNanos,
        deadlineNanos,
        context,
        budget,
        breaker,
        owed);
  }

  /** Applies the judge's verdict on the end of {@code attempt}, in one transition. */
  private void apply(
      Attempt<ReqT, RespT> attempt, Verdict verdict, Status status, Metadata trailers) {
    int fx = 0;
    synchronized (log) {
      closeAttempt(attempt, status);
      boolean open = phase == Phase.ATTEMPTING || phase == Phase.BACKOFF;
      boolean decides = open || (phase == Phase.COMMITTED && winner == attempt);
      Retrying r = retrying();
      switch (verdict.kind()) {
        case FAIL:
          if (decides) {
            beginClose(verdict.status(), new Metadata(), verdict.status());
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
            beginClose(status, trailers, null);
          }
          break;
        case STOP:
          if (decides) {
            refused(verdict.refusal(), reasonOf(verdict));
            beginClose(decorate(verdict), withMarker(trailers, verdict.overload()), null);
          }
          break;
        case GIVE_UP:
          if (decides) {
            refused(verdict.refusal(), reasonOf(verdict));
          }
          if (open && (stillContending() || r.timerGeneration != 0)) {
            // Another attempt is in flight or due (a hedge on a per-attempt timeout): it may win.
            r.givenUp = reasonOf(verdict);
            r.givenUpOverload = verdict.overload();
          } else if (decides) {
            beginClose(decorate(verdict), withMarker(trailers, verdict.overload()), null);
          }
          break;
        case RETRY:
          if (verdict.permit() && (!open || r.bufferLimitReason != null)) {
            r.breakerReleases++; // The attempt it was granted for will not be sent.
          }
          if (open) {
            if (r.bufferLimitReason != null) {
              beginClose(giveUpStatus(status, r.bufferLimitReason), trailers, null);
            } else {
              startOver(r, verdict);
              planNext(
                  RetryListener.AttemptKind.RETRY,
                  verdict.delayNanos(),
                  !verdict.serverDelay()
                      ? RetryListener.DelaySource.BACKOFF
                      : trailers.containsKey(ServerHints.PUSHBACK_KEY)
                          ? RetryListener.DelaySource.PUSHBACK
                          : RetryListener.DelaySource.RETRY_INFO);
              if (verdict.delayNanos() == 0) {
                newAttempt();
              } else {
                armNextAttempt(verdict.delayNanos());
                r.timerHoldsPermit = verdict.permit() && r.timerGeneration != 0;
              }
            }
          }
          break;
        case HEDGE_NOW:
          if (open && hedgeAllowed()) {
            cancelNextAttemptTimer();
            planNext(RetryListener.AttemptKind.HEDGE, 0, RetryListener.DelaySource.NONE);
            fx |= reserveHedge();
          }
          break;
        case HEDGE_AFTER:
          if (open && hedgeAllowed()) {
            cancelNextAttemptTimer();
            if (fitsDeadline(verdict.delayNanos())) {
              planNext(
                  RetryListener.AttemptKind.HEDGE,
                  verdict.delayNanos(),
                  trailers.containsKey(ServerHints.PUSHBACK_KEY)
                      ? RetryListener.DelaySource.PUSHBACK
                      : RetryListener.DelaySource.RETRY_INFO);
              armNextAttempt(verdict.delayNanos());
            }
          }
          break;
        case NO_MORE_HEDGES:
          if (open && r.noMoreHedges == null) {
            refused(verdict.refusal(), reasonOf(verdict));
            r.noMoreHedges = verdict.reason();
            r.noMoreHedgesOverload = verdict.overload();
            cancelNextAttemptTimer();
          }
          break;
        case NOTHING:
          break;
        default:
          throw new AssertionError(verdict);
      }
      settle();
      fx |= effects(Caller.CALLBACK);
    }
    runEffects(fx, Caller.CALLBACK);
  }

  // ---------------------------------------------------------------------------------------------
  // Timers.

  /** The per-attempt timer of {@code attempt} fired. */
  private void attemptTimerFired(Attempt<ReqT, RespT> attempt) {
    Judge.Case timedOut;
    Status timeout = Judge.perAttemptTimeoutStatus(plan.perAttemptTimeoutNanos);
    synchronized (log) {
      attempt.timer = null;
      if (!stillRacing(attempt)) {
        return;
      }
      Retrying r = retrying();
      timedOut =
          new Judge.Case(
              Judge.Mode.TIMER,
              attempt.number,
              timeout,
              new Metadata(),
              attemptsMade,
              r.bufferLimitReason,
              r.backoffRetries,
              r.previousBackoffNanos,
              deadlineNanos,
              context,
              budget,
              breaker,
              false);
    }
    Verdict verdict = plan.judge.judge(timedOut);
    int fx;
    boolean replaced = false;
    boolean breakerFailure = false;
    boolean usedPermit = false;
    synchronized (log) {
      // An answer may have come meanwhile: then the verdict is moot (a granted retry is unused).
      if (stillRacing(attempt)) {
        Retrying r = retrying();
        switch (verdict.kind()) {
          case REPLACE:
            if (!plan.retry.hedgeOnPerAttemptTimeout()) {
              attempt.fate = Fate.TIMED_OUT;
              attempt.orderCancel(Status.CANCELLED.withDescription(timeout.getDescription()));
              replaced = true;
              breakerFailure = attempt.breakerOwed;
              attempt.breakerOwed = false;
            }
            usedPermit = true;
            // Otherwise it races the new one, as a hedge: the first to answer wins.
            if (attempt.fate == Fate.TIMED_OUT) {
              r.lastStatus = timeout;
              r.lastTrailers = new Metadata();
              r.history.add("DEADLINE_EXCEEDED after per-attempt timeout");
            }
            startOver(r, verdict);
            planNext(
                plan.retry.hedgeOnPerAttemptTimeout()
                    ? RetryListener.AttemptKind.HEDGE
                    : RetryListener.AttemptKind.RETRY,
                verdict.delayNanos(),
                RetryListener.DelaySource.BACKOFF);
            if (verdict.delayNanos() == 0) {
              newAttempt();
            } else {
              armNextAttempt(verdict.delayNanos());
              r.timerHoldsPermit = verdict.permit() && r.timerGeneration != 0;
            }
            settle();
            break;
          case KEEP:
            refused(verdict.refusal(), "its per-attempt timeout passed and " + reasonOf(verdict));
            r.keptNote =
                "the per-attempt timeout ("
                    + Duration.ofNanos(plan.perAttemptTimeoutNanos)
                    + ") of attempt "
                    + attempt.number
                    + " passed and it was kept running because "
                    + reasonOf(verdict);
            break;
          case FAIL:
            beginClose(verdict.status(), new Metadata(), verdict.status());
            break;
          default:
            throw new AssertionError(verdict);
        }
      }
      fx = effects(Caller.TIMER);
    }
    runEffects(fx, Caller.TIMER);
    try {
      if (replaced) {
        // The budget and the breaker learn of the timeout now, as the overload signal it is,
        // whether or not the cancelled attempt's own close comes before its replacement wins.
        UserCode.recordOutcome(budget, attempt.number, RetryBudget.Outcome.RETRYABLE_FAILURE);
        if (breakerFailure) {
          UserCode.report(breaker, true);
        }
      }
      if (verdict.permit() && !usedPermit) {
        UserCode.report(breaker, null); // An answer came meanwhile: the replacement is not sent.
      }
    } catch (UserCode.Failure e) {
      fail(e.status, Caller.TIMER);
    }
  }

  /** Whether some attempt not yet closed may still win the call (under lock). */
  private boolean stillContending() {
    for (Attempt<ReqT, RespT> a = attempts; a != null; a = a.next) {
      if (a.fate == Fate.CONTENDING) {
        return true;
      }
    }
    return false;
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
    synchronized (log) {
      Retrying r = retrying;
      if (r == null || generation != r.timerGeneration) {
        return; // Cancelled, or replaced by a later timer.
      }
      r.timerGeneration = 0;
      r.timer = null;
      boolean permit = r.timerHoldsPermit;
      r.timerHoldsPermit = false;
      if (permit && (plan.hedging != null || r.bufferLimitReason != null
          || (deadlineNanos != Judge.NO_DEADLINE
              && plan.runtime.ticker.nanoTime() >= deadlineNanos))) {
        r.breakerReleases++; // No attempt will be made of it.
      }
      if (plan.hedging != null) {
        fx = reserveHedge();
        settle();
      } else if (deadlineNanos != Judge.NO_DEADLINE && plan.runtime.ticker.nanoTime() >= deadlineNanos) {
        beginClose(
            withLastAttempt(
                Status.DEADLINE_EXCEEDED.withDescription(
                    "grpc-retry: the call's deadline passed during backoff"),
                r.lastStatus),
            lastTrailersOrEmpty(),
            null);
      } else if (r.bufferLimitReason != null) {
        beginClose(giveUpStatus(r.lastStatus, r.bufferLimitReason), lastTrailersOrEmpty(), null);
      } else {
        newAttempt();
        phase = Phase.ATTEMPTING;
      }
      fx |= effects(Caller.TIMER);
    }
    runEffects(fx, Caller.TIMER);
  }

  /** Arms the timer of the next attempt (under lock). */
  private void armNextAttempt(long delayNanos) {
    cancelNextAttemptTimer();
    Retrying r = retrying();
    int generation = ++r.generations;
    if (generation == 0) {
      generation = ++r.generations;
    }
    int armed = generation;
    if (observer != null) {
      // Read before the timer exists: a manual clock moved by a test that saw the timer must not
      // shorten the wait as the listener is told it.
      r.timerArmedNanos = observer.now();
    }
    try {
      r.timer =
          plan.runtime.scheduler.schedule(() -> nextAttemptDue(armed), delayNanos, TimeUnit.NANOSECONDS);
      r.timerGeneration = generation;
    } catch (RejectedExecutionException e) {
      Status status =
          Status.INTERNAL
              .withDescription("grpc-retry: the scheduler rejected the timer of the next attempt")
              .withCause(e);
      beginClose(status, new Metadata(), status);
    }
  }

  /** Disarms the timer of the next attempt, if any (under lock). */
  private void cancelNextAttemptTimer() {
    Retrying r = retrying;
    if (r == null) {
      return;
    }
    if (r.timerHoldsPermit) {
      r.timerHoldsPermit = false;
      r.breakerReleases++; // The retry it was granted for will not be sent.
    }
    r.timerGeneration = 0;
    if (r.timer != null) {
      r.timer.cancel(false);
      r.timer = null;
    }
  }

  /** Arms the per-attempt timer of an attempt that is about to start (under lock). */
  private void armAttemptTimer(Attempt<ReqT, RespT> attempt) {
    long timeout = plan.perAttemptTimeoutNanos;
    if (timeout == 0) {
      return;
    }
    if (deadlineNanos != Judge.NO_DEADLINE
        && Judge.saturatedAdd(plan.runtime.ticker.nanoTime(), timeout) >= deadlineNanos) {
      return; // The call's deadline comes first; the channel enforces it.
    }
    try {
      attempt.timer =
          plan.runtime.scheduler.schedule(
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
  private static void startOver(Retrying r, Verdict verdict) {
    if (verdict.serverDelay()) {
      // gRFC A6: a server-chosen delay starts the backoff sequence over.
      r.backoffRetries = 0;
      r.previousBackoffNanos = 0;
    } else {
      r.backoffRetries++;
      r.previousBackoffNanos = verdict.delayNanos();
    }
  }

  private boolean fitsDeadline(long delayNanos) {
    return deadlineNanos == Judge.NO_DEADLINE
        || Judge.saturatedAdd(plan.runtime.ticker.nanoTime(), delayNanos) < deadlineNanos;
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
      planNext(RetryListener.AttemptKind.HEDGE, 0, RetryListener.DelaySource.NONE);
      return reserveHedge();
    }
    if (fitsDeadline(hedging.hedgingDelayNanos)) {
      planNext(
          RetryListener.AttemptKind.HEDGE,
          hedging.hedgingDelayNanos,
          RetryListener.DelaySource.HEDGING_DELAY);
      armNextAttempt(hedging.hedgingDelayNanos);
    }
    return 0;
  }

  /** Whether another hedge may be sent, budget aside (under lock). */
  private boolean hedgeAllowed() {
    Retrying r = retrying();
    return (phase == Phase.ATTEMPTING || phase == Phase.BACKOFF)
        && r.noMoreHedges == null
        && r.bufferLimitReason == null
        && attemptsMade + r.hedgesReserved < plan.hedging.maxAttempts();
  }

  /**
   * Takes a number for the next hedge (under lock), so that the limit holds while the budget is
   * asked outside the lock; returns the effect that asks it.
   */
  private int reserveHedge() {
    if (!hedgeAllowed()
        || (deadlineNanos != Judge.NO_DEADLINE && plan.runtime.ticker.nanoTime() >= deadlineNanos)) {
      return 0;
    }
    retrying().hedgesReserved++;
    phase = Phase.ATTEMPTING;
    return FX_HEDGE;
  }

  /** Asks the budget for the hedge this thread reserved, then creates it. */
  private void sendReservedHedge(Caller caller) {
    while (true) {
      boolean permitted = true;
      boolean granted = false;
      // A permission of the breaker that no attempt has used yet: it must be given back once.
      boolean owed = false;
      Status failure = null;
      try {
        permitted = breaker == null || UserCode.tryAcquirePermission(breaker);
        owed = permitted && breaker != null;
        granted = permitted && UserCode.tryAcquire(budget, RetryBudget.AttemptKind.HEDGE);
        if (owed && !granted) {
          owed = false;
          UserCode.report(breaker, null);
        }
      } catch (UserCode.Failure e) {
        // When the budget threw, the permission is still owed: it is given back below.
        failure = e.status;
      }
      int fx = 0;
      boolean sent = false;
      synchronized (log) {
        Retrying r = retrying();
        r.hedgesReserved--;
        if (phase == Phase.ATTEMPTING || phase == Phase.BACKOFF) {
          if (failure != null) {
            beginClose(failure, new Metadata(), failure);
          } else if (!permitted) {
            if (r.noMoreHedges == null) {
              r.noMoreHedges = breakerRefused();
              r.noMoreHedgesOverload = "breaker";
              refused(RetryListener.Refusal.BREAKER, r.noMoreHedges);
            }
          } else if (!granted) {
            if (r.noMoreHedges == null) {
              r.noMoreHedges = budgetRefused();
              r.noMoreHedgesOverload = "budget";
              refused(RetryListener.Refusal.BUDGET, r.noMoreHedges);
            }
          } else if (r.bufferLimitReason == null && r.noMoreHedges == null) {
            newAttempt();
            sent = true;
            phase = Phase.ATTEMPTING;
            cancelNextAttemptTimer();
            fx = planNextHedge();
          }
        }
        if (owed && !sent) {
          // Granted, but the budget threw or the call moved on meanwhile.
          retrying().breakerReleases++;
        }
        settle();
        fx |= effects(caller);
      }
      runEffects(fx & ~FX_HEDGE, caller);
      if ((fx & FX_HEDGE) == 0) {
        return;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions shared by several events (all under lock).

  private Retrying retrying() {
    Retrying r = retrying;
    if (r == null) {
      r = new Retrying();
      retrying = r;
    }
    return r;
  }

  private void newAttempt() {
    Attempt<ReqT, RespT> attempt = new Attempt<>(this, ++attemptsMade);
    if (observer != null) {
      Retrying r = retrying;
      if (attempt.number == 1) {
        observer.attemptStarted(1, RetryListener.AttemptKind.FIRST, 0, RetryListener.DelaySource.NONE);
      } else {
        observer.attemptStarted(attempt.number, r.nextKind, r.nextDelayNanos, r.nextSource);
        planNext(plan.hedging != null ? RetryListener.AttemptKind.HEDGE : RetryListener.AttemptKind.RETRY, 0, RetryListener.DelaySource.NONE);
      }
    }
    // Every attempt is created on a permission of the breaker, if there is one.
    attempt.breakerOwed = breaker != null;
    if (attempts == null) {
      attempts = attempt;
    } else {
      Attempt<ReqT, RespT> last = attempts;
      while (last.next != null) {
        last = last.next;
      }
      last.next = attempt;
    }
  }

  /** For listeners: what the next attempt will be and what it waits for (under lock). */
  private void planNext(RetryListener.AttemptKind kind, long delayNanos, RetryListener.DelaySource source) {
    if (observer != null) {
      Retrying r = retrying();
      r.nextKind = kind;
      r.nextDelayNanos = delayNanos;
      r.nextSource = source;
    }
  }

  /** For listeners: no further attempt, for {@code reason} (under lock). */
  private void refused(RetryListener.@Nullable Refusal reason, String description) {
    if (observer != null && reason != null) {
      observer.refused(attemptsMade, reason, description);
    }
  }

  /** Commits the call to {@code attempt}: the others are abandoned, recording stops. */
  private void commitTo(Attempt<ReqT, RespT> attempt, @Nullable String note) {
    phase = Phase.COMMITTED;
    winner = attempt;
    if (observer != null) {
      observer.committed(attempt.number);
    }
    if (note != null) {
      retrying().commitNote = note;
    }
    if (attempt.fate == Fate.TIMED_OUT && attempt.cancel == CancelOrder.PENDING) {
      // Its cancellation has not gone out yet: take it back, the attempt is wanted after all.
      attempt.fate = Fate.CONTENDING;
      attempt.cancel = CancelOrder.NONE;
      attempt.cancelWith = null;
    }
    cancelTimer(attempt);
    releaseRecording();
    cancelNextAttemptTimer();
    Attempt<ReqT, RespT> other = attempts;
    while (other != null) {
      Attempt<ReqT, RespT> following = other.next;
      if (other != attempt) {
        abandon(other, ANOTHER_WON);
      }
      other = following;
    }
  }

  private static final Status ANOTHER_WON =
      Status.CANCELLED.withDescription("grpc-retry: another attempt won");
  private static final Status CALL_ENDED =
      Status.CANCELLED.withDescription("grpc-retry: the call ended");
  private static final Status NEVER_SENT =
      Status.CANCELLED.withDescription("grpc-retry: the attempt was never sent");

  /** Gives up on an attempt: its callbacks are dropped and it is cancelled and drained. */
  private void abandon(Attempt<ReqT, RespT> attempt, Status with) {
    if (attempt.fate == Fate.ABANDONED) {
      return;
    }
    attempt.fate = Fate.ABANDONED;
    cancelTimer(attempt);
    if (attempt.stage == Stage.PENDING) {
      closeAttempt(attempt, NEVER_SENT); // Never started: nothing else would close it.
    } else if (attempt.stage == Stage.REPLAYING || attempt.stage == Stage.LIVE) {
      attempt.orderCancel(with);
    }
  }

  private void closeAttempt(Attempt<ReqT, RespT> attempt, Status status) {
    if (observer != null) {
      // The first reason we gave up on it: an attempt timed out, then abandoned when another
      // one won, is still told as timed out (its cancelWith is kept from the first order).
      String abandoned =
          attempt.fate == Fate.CONTENDING
              ? null
              : attempt.cancelWith != null
                  ? attempt.cancelWith.getDescription()
                  : CALL_ENDED.getDescription();
      observer.attemptEnded(attempt.number, status, abandoned);
    }
    attempt.stage = Stage.CLOSED;
    cancelTimer(attempt);
    if (attempt.breakerOwed) {
      // It ended without a word about the target (abandoned, never sent, cut short by the caller).
      attempt.breakerOwed = false;
      retrying().breakerReleases++;
    }
    if (attempts == attempt) {
      attempts = attempt.next;
    } else {
      for (Attempt<ReqT, RespT> a = attempts; a != null; a = a.next) {
        if (a.next == attempt) {
          a.next = attempt.next;
          break;
        }
      }
    }
    attempt.next = null;
  }

  /**
   * Fixes the call's final status; every attempt still open is abandoned (cancelled with {@code
   * cancelWith}, or a note that the call ended), and the close is delivered by the transition that
   * sees the last one close.
   */
  private void beginClose(Status status, Metadata trailers, @Nullable Status cancelWith) {
    phase = Phase.CLOSING;
    closeStatus = status;
    closeTrailers = trailers;
    releaseRecording();
    cancelNextAttemptTimer();
    Status with = cancelWith != null ? cancelWith : CALL_ENDED;
    Attempt<ReqT, RespT> a = attempts;
    while (a != null) {
      Attempt<ReqT, RespT> following = a.next;
      abandon(a, with);
      a = following;
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
    for (Attempt<ReqT, RespT> a = attempts; a != null; a = a.next) {
      if (a.fate == Fate.CONTENDING) {
        phase = Phase.ATTEMPTING;
        return;
      }
    }
    Retrying r = retrying();
    if (r.hedgesReserved > 0) {
      phase = Phase.ATTEMPTING;
      return;
    }
    if (r.timerGeneration != 0) {
      phase = Phase.BACKOFF;
      if (observer != null) {
        observer.idleSince(r.timerArmedNanos);
      }
      return;
    }
    Metadata trailers = lastTrailersOrEmpty();
    String overload = r.givenUp != null ? r.givenUpOverload : r.noMoreHedgesOverload;
    if (overload != null) {
      trailers.put(UpstreamPushbackInterceptor.GAVE_UP_KEY, overload);
    }
    beginClose(giveUpStatus(r.lastStatus, exhaustedReason(r)), trailers, null);
  }

  private String exhaustedReason(Retrying r) {
    if (r.givenUp != null) {
      return r.givenUp;
    }
    if (r.noMoreHedges != null) {
      return r.noMoreHedges;
    }
    if (r.bufferLimitReason != null) {
      return r.bufferLimitReason;
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
    return (phase == Phase.ATTEMPTING || phase == Phase.BACKOFF)
        && (retrying == null || retrying.bufferLimitReason == null);
  }

  private void account(long size) {
    long perCall = bufferedBytes + size;
    BufferMeter buffers = plan.runtime.buffers;
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
    Retrying r = retrying();
    r.bufferLimitReason = reason;
    refused(RetryListener.Refusal.BUFFER_LIMIT, reason);
    cancelNextAttemptTimer();
    for (Attempt<ReqT, RespT> a = attempts; a != null; a = a.next) {
      if (a.fate == Fate.CONTENDING && a.cancel == CancelOrder.NONE && a.stage != Stage.JUDGING) {
        commitTo(a, reason);
        return;
      }
    }
    if (phase == Phase.BACKOFF) {
      beginClose(giveUpStatus(r.lastStatus, reason), lastTrailersOrEmpty(), null);
    }
    // Otherwise an attempt is being judged, or a hedge granted: they see bufferLimitReason.
  }

  private void releaseRecording() {
    if (bufferedBytes > 0) {
      plan.runtime.buffers.release(bufferedBytes);
      bufferedBytes = 0;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Effects.

  /**
   * At the end of a transition (under lock): claims what must be done once the lock is released.
   * Each effect is claimed by one thread only.
   */
  private int effects(Caller caller) {
    int fx = 0;
    if (phase == Phase.CLOSING && attempts == null) {
      phase = Phase.CLOSED;
      log.clear();
      if (attemptsMade > 1) {
        closeTrailers.put(RetryInterceptor.ATTEMPTS_TRAILER, Integer.toString(attemptsMade));
      }
      if (observer != null) {
        observer.closed(closeStatus, attemptsMade);
      }
      if (caller == Caller.CALLBACK || attemptOptions.getExecutor() == null) {
        // Delivered on this thread: claim the listener now, or leave it to the thread inside.
        if (delivering) {
          enqueue(this::invokeClose);
        } else {
          delivering = true;
          fx |= FX_CLOSE_NOW;
        }
      } else {
        fx |= FX_CLOSE;
      }
    } else if (!pumping && pickWork()) {
      pumping = true;
      fx |= FX_PUMP;
    }
    Retrying r = retrying;
    if (r != null && r.breakerReleases > 0) {
      fx |= FX_BREAKER;
    }
    if (observer != null && observer.hasPending()) {
      fx |= FX_EVENTS;
    }
    if (phase == Phase.BACKOFF
        && r != null
        && r.contextListener == null
        && context != Context.ROOT) {
      // Attempts in flight see the Context's cancellation through the channel; during backoff
      // nothing is in flight, so the call watches it itself.
      r.contextListener = this::contextCancelled;
      fx |= FX_WATCH;
    }
    return fx;
  }

  private void runEffects(int fx, Caller caller) {
    if (fx == 0) {
      return;
    }
    if ((fx & FX_EVENTS) != 0) {
      observer.flush(log);
    }
    if ((fx & FX_WATCH) != 0) {
      watchContext();
    }
    if ((fx & (FX_CLOSE | FX_CLOSE_NOW)) != 0) {
      closeDelivered(fx);
    }
    if ((fx & FX_PUMP) != 0) {
      if (caller == Caller.TIMER && attemptOptions.getExecutor() != null) {
        try {
          attemptOptions.getExecutor().execute(this::pumpLoop);
        } catch (RejectedExecutionException e) {
          pumpLoop();
        }
      } else {
        pumpLoop();
      }
    }
    if ((fx & FX_BREAKER) != 0) {
      releaseBreakerPermits(caller);
    }
    if ((fx & FX_HEDGE) != 0) {
      sendReservedHedge(caller);
    }
  }

  /** Gives the breaker back the permissions of attempts that ended unheard of. */
  private void releaseBreakerPermits(Caller caller) {
    int n;
    synchronized (log) {
      n = retrying.breakerReleases;
      retrying.breakerReleases = 0;
    }
    // Each permission is given back even when the breaker throws on one: a throw ends the call,
    // but must not cost the breaker the other permissions (a half-open breaker's probes).
    UserCode.Failure first = null;
    for (int i = 0; i < n; i++) {
      try {
        UserCode.report(breaker, null);
      } catch (UserCode.Failure e) {
        if (first == null) {
          first = e;
        }
      }
    }
    if (first != null) {
      fail(first.status, caller);
    }
  }

  /** Ends the call with {@code status}: user code or the application's listener failed. */
  private void fail(Status status, Caller caller) {
    int fx;
    synchronized (log) {
      if (phase == Phase.NEW || phase == Phase.CLOSING || phase == Phase.CLOSED) {
        return;
      }
      beginClose(status, new Metadata(), status);
      fx = effects(caller);
    }
    runEffects(fx, caller);
  }

  private void watchContext() {
    Context.CancellationListener listener;
    synchronized (log) {
      listener = retrying.contextListener;
    }
    // A Context already cancelled runs the listener at once, on this thread, outside the lock.
    context.addListener(listener, Runnable::run);
    boolean closed;
    synchronized (log) {
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
    synchronized (log) {
      if (phase != Phase.BACKOFF) {
        return; // Attempts in flight are cancelled by the channel, which watches the same Context.
      }
      beginClose(withLastAttempt(status, retrying.lastStatus), lastTrailersOrEmpty(), status);
      fx = effects(Caller.TIMER);
    }
    runEffects(fx, Caller.TIMER);
  }

  // ---------------------------------------------------------------------------------------------
  // The outbound pump.

  /**
   * Picks the next batch for the pump (under lock, by the thread that holds or claims it): for the
   * first attempt that needs anything, its cancellation, or its start, requests and the log
   * entries it lacks, in that order. Returns false when no attempt needs anything.
   */
  private boolean pickWork() {
    for (Attempt<ReqT, RespT> a = attempts; a != null; a = a.next) {
      Stage stage = a.stage;
      int batch = 0;
      if (stage == Stage.PENDING) {
        if (a.fate != Fate.CONTENDING || deferStart()) {
          continue;
        }
        a.stage = Stage.REPLAYING;
        armAttemptTimer(a);
        batch = W_START;
      } else if (stage != Stage.REPLAYING && stage != Stage.LIVE) {
        continue;
      } else if (a.cancel == CancelOrder.PENDING) {
        a.cancel = a.fate == Fate.ABANDONED ? CancelOrder.DRAINED : CancelOrder.SENT;
        return batch(a, a.cancel == CancelOrder.DRAINED ? W_DRAIN : W_CANCEL);
      } else if (a.fate == Fate.ABANDONED) {
        if (a.cancel == CancelOrder.SENT) {
          a.cancel = CancelOrder.DRAINED;
          return batch(a, W_DRAIN);
        }
        continue;
      }
      boolean sends = a.fate == Fate.CONTENDING && a.cancel == CancelOrder.NONE;
      if ((sends || a == winner) && a.requestSent < requested) {
        workRequest = requested - a.requestSent;
        a.requestSent = requested;
        batch |= W_REQUEST;
      }
      if (sends && a.sent < log.end()) {
        workRing = log.ring();
        workFrom = a.sent;
        a.sent = log.end();
        batch |= W_SEND;
      }
      if (batch != 0) {
        return batch(a, batch);
      }
      if (stage == Stage.REPLAYING && sends) {
        a.stage = Stage.LIVE;
        if (a.number > 1 || a.readyMissed) {
          a.readyMissed = false;
          return batch(a, W_READY);
        }
      }
    }
    trimLog();
    return false;
  }

  /**
   * Whether the first attempt must wait before it starts: a method whose client sends one message
   * gains nothing from a stream opened before that message and its half-close, and starting it
   * with both lets the pump send all four operations in one go.
   */
  private boolean deferStart() {
    return appSide == AppSide.OPEN && method.getType().clientSendsOneMessage();
  }

  private boolean batch(Attempt<ReqT, RespT> attempt, int kinds) {
    workAttempt = attempt;
    work = kinds;
    return true;
  }

  /** Drops the log entries that no attempt will read again (under lock). */
  private void trimLog() {
    if (recording() || log.size() == 0) {
      return;
    }
    long keep = log.end();
    for (Attempt<ReqT, RespT> a = attempts; a != null; a = a.next) {
      if (a.fate == Fate.CONTENDING && a.cancel == CancelOrder.NONE) {
        keep = Math.min(keep, a.sent);
      }
    }
    log.dropBefore(keep);
  }

  /**
   * Sends batches to attempts until none needs anything; holds the pump meanwhile. The common
   * batch (start, requests, log entries) is sent right here rather than through further methods:
   * the in-process transport runs the server inside these calls, and every frame the JIT must
   * inline between the application and grpc's own code counts against its inlining depth.
   */
  @SuppressWarnings("unchecked")
  private void pumpLoop() {
    while (true) {
      Attempt<ReqT, RespT> attempt = workAttempt;
      int kinds = work;
      Object[] ring = workRing;
      workAttempt = null;
      workRing = null;
      if ((kinds & (W_CANCEL | W_DRAIN | W_READY)) != 0) {
        performRare(attempt, kinds);
      } else if ((kinds & W_START) == 0 || startAttempt(attempt)) {
        ClientCall<ReqT, RespT> call = attempt.call;
        Object entry = null;
        try {
          if ((kinds & W_REQUEST) != 0) {
            call.request(workRequest);
          }
          if ((kinds & W_SEND) != 0) {
            // Only the thread that holds the pump moves an attempt's position in the log.
            for (long i = workFrom, to = attempt.sent; i < to; i++) {
              entry = OutboundLog.entry(ring, i);
              if (entry == Control.HALF_CLOSE) {
                call.halfClose();
              } else if (entry instanceof Control) {
                ((Control) entry).replay(call);
              } else {
                call.sendMessage((ReqT) entry);
              }
            }
          }
        } catch (RuntimeException | Error e) {
          String operation =
              entry == null ? "request" : entry instanceof Control ? entry.toString() : "sendMessage";
          outboundFailed(attempt, operation, e);
        }
      }
      synchronized (log) {
        if (!pickWork()) {
          pumping = false;
          return;
        }
      }
    }
  }

  /** A cancellation, or the onReady owed to an attempt that has caught up. */
  private void performRare(Attempt<ReqT, RespT> attempt, int kinds) {
    if ((kinds & W_READY) != 0) {
      if (attempt.call.isReady()) {
        deliverReady(attempt);
      }
      return;
    }
    cancelAttempt(attempt, (kinds & W_DRAIN) != 0);
  }

  /** Starts an attempt on the channel; returns false if that failed (the call then ends). */
  private boolean startAttempt(Attempt<ReqT, RespT> attempt) {
    Metadata headers;
    if (attempt.number == 1) {
      headers = firstHeaders;
      firstHeaders = null;
    } else {
      headers = new Metadata();
      headers.merge(pristineHeaders);
      headers.put(PREVIOUS_ATTEMPTS_KEY, Integer.toString(attempt.number - 1));
    }
    ClientCall<ReqT, RespT> call = null;
    Throwable failure = null;
    // Usually the pump runs where start() was called, in the captured Context already.
    Context previous = Context.current() == context ? null : context.attach();
    try {
      call = next.newCall(method, attemptOptions);
      attempt.call = call;
      call.start(attempt, headers);
    } catch (RuntimeException | Error e) {
      failure = e;
    } finally {
      if (previous != null) {
        context.detach(previous);
      }
    }
    if (failure != null) {
      startFailed(attempt, call, failure);
      return false;
    }
    return true;
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
    synchronized (log) {
      if (attempt.stage != Stage.CLOSED) {
        closeAttempt(attempt, status);
      }
      if (phase != Phase.CLOSING && phase != Phase.CLOSED) {
        beginClose(status, new Metadata(), status);
      }
      fx = effects(Caller.CALLBACK);
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
    Status with = attempt.cancelWith;
    try {
      call.cancel(with.getDescription(), with.getCause());
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
    if (attempt.stage != Stage.LIVE || attempt.cancel != CancelOrder.NONE) {
      return false;
    }
    if (phase == Phase.COMMITTED) {
      return attempt == winner;
    }
    return phase == Phase.ATTEMPTING && attempt.fate == Fate.CONTENDING;
  }

  private void deliverReady(Attempt<ReqT, RespT> attempt) {
    synchronized (log) {
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
      synchronized (log) {
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
    synchronized (log) {
      if (phase == Phase.NEW || phase == Phase.CLOSING || phase == Phase.CLOSED) {
        return;
      }
      if (queued != null) {
        queued.clear();
      }
      beginClose(status, new Metadata(), status);
      fx = effects(Caller.TIMER);
    }
    runEffects(fx, Caller.TIMER);
  }

  /** The close was claimed: removes the Context listener and hands the close to the listener. */
  private void closeDelivered(int fx) {
    Retrying r = retrying;
    Context.CancellationListener listener = r == null ? null : r.contextListener;
    if (listener != null) {
      context.removeListener(listener);
    }
    if ((fx & FX_CLOSE_NOW) != 0) {
      invokeClose();
      return;
    }
    try {
      attemptOptions.getExecutor().execute(this::runClose);
    } catch (RejectedExecutionException e) {
      // Nothing else can run the callback: run it here rather than lose it.
      runClose();
    }
  }

  private void runClose() {
    synchronized (log) {
      if (delivering) {
        enqueue(this::invokeClose);
        return;
      }
      delivering = true;
    }
    invokeClose();
  }

  /** Calls onClose; fields read here were written under the lock before the close was claimed. */
  private void invokeClose() {
    try {
      app.onClose(closeStatus, closeTrailers);
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
              Deadline.after(plan.timeoutNanos, TimeUnit.NANOSECONDS, plan.runtime.ticker));
      deadlineNanos = Judge.saturatedAdd(plan.runtime.ticker.nanoTime(), plan.timeoutNanos);
      return;
    }
    long remaining = Long.MAX_VALUE;
    if (optionsDeadline != null) {
      remaining = optionsDeadline.timeRemaining(TimeUnit.NANOSECONDS);
    }
    if (contextDeadline != null) {
      remaining = Math.min(remaining, contextDeadline.timeRemaining(TimeUnit.NANOSECONDS));
    }
    deadlineNanos = Judge.saturatedAdd(plan.runtime.ticker.nanoTime(), remaining);
  }

  private Metadata lastTrailersOrEmpty() {
    Metadata last = retrying == null ? null : retrying.lastTrailers;
    return last != null ? last : new Metadata();
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
        : giveUpStatus(verdict.status(), reasonOf(verdict));
  }

  /**
   * The verdict's reason; a refusal of the budget also says which budget and what it holds, one of
   * the breaker why it refused.
   */
  private String reasonOf(Verdict verdict) {
    if ("budget".equals(verdict.overload())) {
      return budgetRefused();
    }
    return "breaker".equals(verdict.overload()) ? breakerRefused() : verdict.reason();
  }

  private String breakerRefused() {
    return Judge.BREAKER_REFUSED + " (" + UserCode.describeRejection(breaker) + ")";
  }

  private String budgetRefused() {
    return Judge.BUDGET_REFUSED
        + " ("
        + plan.runtime.budgets.describe(budget, next.authority())
        + ")";
  }

  private Status giveUpStatus(@Nullable Status last, String reason) {
    Status base = last != null ? last : Status.UNKNOWN;
    String kept = retrying == null ? null : retrying.keptNote;
    if (plan.policy.maxAttempts() == 1 && kept == null && last != null) {
      // A policy that never retries (here for its breaker or listener) has nothing to add.
      return last;
    }
    String note =
        "grpc-retry: "
            + attemptsSummary()
            + "; not retried because "
            + reason
            + (kept == null ? "" : "; " + kept);
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
            + attemptsSummary()
            + "; last attempt: "
            + lastText
            + "]");
  }

  /**
   * {@code 3 attempts (UNAVAILABLE, DEADLINE_EXCEEDED after per-attempt timeout, UNAVAILABLE)}:
   * how many attempts were made and how those that failed ended, at most eight of them named.
   */
  private String attemptsSummary() {
    if (attemptsMade == 1) {
      return "1 attempt";
    }
    StringBuilder summary = new StringBuilder().append(attemptsMade).append(" attempts");
    ArrayList<String> history = retrying == null ? null : retrying.history;
    if (history != null && !history.isEmpty()) {
      summary.append(" (");
      int n = history.size();
      for (int i = 0; i < n; i++) {
        if (n > 8 && i == 4) {
          summary.append("... ").append(n - 8).append(" more, ");
          i = n - 4;
        }
        summary.append(history.get(i)).append(i < n - 1 ? ", " : ")");
      }
    }
    return summary.toString();
  }
}
