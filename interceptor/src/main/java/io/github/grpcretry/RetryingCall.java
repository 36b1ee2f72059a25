package io.github.grpcretry;

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
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * One call as the application sees it, carried out by attempts on the channel below: one after
 * another under a {@link RetryPolicy}, side by side under a {@link HedgingPolicy}. Both are the
 * same machine; hedging only adds a rule for when the next attempt starts.
 *
 * <h2>States</h2>
 *
 * <ul>
 *   <li>not started: before {@link #start};
 *   <li>attempts in flight: {@code open} holds every attempt created and not yet closed;
 *       outbound operations are appended to the log and drained into each of them;
 *   <li>deciding: an attempt has closed and its outcome is being classified outside the lock;
 *   <li>waiting: {@code nextAttemptTimer != null}: the backoff of a retry, or the delay before the
 *       next hedge; operations are only logged while nothing is in flight;
 *   <li>committed: {@code committed != null}; the others are abandoned (cancelled, their callbacks
 *       dropped) and the log is only a hand-off queue to the winner;
 *   <li>closed: the final status is fixed; the application's {@code onClose} is delivered once
 *       the last open attempt has closed.
 * </ul>
 *
 * <h2>Threading</h2>
 *
 * <p>All state is guarded by {@code lock}; no call into gRPC, the application, the classifier or
 * the budget is made while holding it. Operations reach an attempt only through {@link #drain},
 * which lets one thread at a time send to a given attempt, in log order: the first operations of a
 * new attempt (its replay) and those the application adds meanwhile go out in the order they were
 * logged. Callbacks reach the application through a {@link SerializedListener}. Work this class
 * starts by itself (a retry after backoff, a close during backoff) runs on the executor from the
 * call's {@link CallOptions} when there is one, so that blocking stubs wake up; otherwise on the
 * thread at hand.
 */
final class RetryingCall<ReqT, RespT> extends ClientCall<ReqT, RespT> {
  static final Metadata.Key<String> PREVIOUS_ATTEMPTS_KEY =
      Metadata.Key.of("grpc-previous-rpc-attempts", Metadata.ASCII_STRING_MARSHALLER);

  /** How close to its deadline a DEADLINE_EXCEEDED attempt counts as having hit it. */
  private static final long DEADLINE_TOLERANCE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

  private static final Object HALF_CLOSE = new Marker("halfClose");
  private static final Object COMPRESSION_ON = new Marker("setMessageCompression(true)");
  private static final Object COMPRESSION_OFF = new Marker("setMessageCompression(false)");

  private final RetryInterceptor config;
  private final MethodDescriptor<ReqT, RespT> method;
  private final Channel next;
  private final CallPolicy policy;
  /** The policy when retrying, null when hedging. */
  private final @Nullable RetryPolicy retry;
  /** The policy when hedging, null when retrying. */
  private final @Nullable HedgingPolicy hedging;
  private final long perAttemptTimeoutNanos;
  private final long policyTimeoutNanos;
  private final RetryBudget budget;
  private final @Nullable Executor callExecutor;

  private final Object lock = new Object();

  // Set in start(), then read only.
  private @Nullable Context context;
  private CallOptions baseOptions;
  private boolean hasDeadline;
  private long deadlineNanos;
  private @Nullable SerializedListener<RespT> app;
  private @Nullable Metadata headersCopy;

  // Guarded by lock.
  private boolean started;
  private @Nullable Metadata firstAttemptHeaders;
  private @Nullable Status cancelStatus;
  private boolean cancelledByApplication;
  private boolean closed;
  /** Attempts created and not yet closed, abandoned ones included. */
  private final ArrayList<Attempt> open = new ArrayList<>(2);
  private @Nullable Attempt committed;
  /** The backoff before a retry, or the delay before the next hedge. */
  private @Nullable ScheduledFuture<?> nextAttemptTimer;
  /** Hedging only: set when no further hedge may be sent, with the reason. */
  private @Nullable String noMoreHedges;
  private @Nullable String noMoreHedgesOverload;
  /** The final close, held until the last open attempt has closed. */
  private @Nullable Status pendingClose;
  private @Nullable Metadata pendingCloseTrailers;
  private int attempts;
  /** How many closed attempts are being classified outside the lock right now. */
  private int deciding;
  private int backoffRetry;
  private long previousBackoffNanos;
  private @Nullable Status lastStatus;
  private @Nullable Metadata lastTrailers;
  private final ArrayList<Object> log = new ArrayList<>(4);
  private int requested;
  /** Written under lock; read without it by sendMessage, which only skips a measurement. */
  private volatile boolean recording = true;
  private long bufferedBytes;
  private @Nullable String bufferLimitReason;
  private Context.@Nullable CancellationListener contextListener;

  RetryingCall(
      RetryInterceptor config,
      MethodDescriptor<ReqT, RespT> method,
      CallOptions callOptions,
      Channel next,
      CallPolicy policy,
      RetryBudget budget) {
    this.config = config;
    this.budget = budget;
    this.method = method;
    this.baseOptions = callOptions;
    this.next = next;
    this.policy = policy;
    if (policy instanceof RetryPolicy) {
      this.retry = (RetryPolicy) policy;
      this.hedging = null;
      this.perAttemptTimeoutNanos = retry.perAttemptTimeoutNanos;
      this.policyTimeoutNanos = retry.timeoutNanos;
    } else {
      this.retry = null;
      this.hedging = (HedgingPolicy) policy;
      this.perAttemptTimeoutNanos = 0;
      this.policyTimeoutNanos = hedging.timeoutNanos;
    }
    this.callExecutor = callOptions.getExecutor();
  }

  // ---------------------------------------------------------------------------------------------
  // The application's side.

  @Override
  public void start(Listener<RespT> responseListener, Metadata headers) {
    if (responseListener == null || headers == null) {
      throw new NullPointerException(responseListener == null ? "responseListener" : "headers");
    }
    SerializedListener<RespT> listener = new SerializedListener<>(responseListener);
    // The channel changes the headers it is given: keep a pristine copy for later attempts.
    Metadata copy = new Metadata();
    copy.merge(headers);
    Context ctx = Context.current();
    Attempt first;
    Status cancelledBeforeStart;
    synchronized (lock) {
      if (started) {
        throw new IllegalStateException("Already started");
      }
      started = true;
      app = listener;
      headersCopy = copy;
      context = ctx;
      computeDeadline(ctx);
      cancelledBeforeStart = cancelStatus;
      if (cancelledBeforeStart != null) {
        closed = true;
        first = null;
      } else {
        firstAttemptHeaders = headers;
        first = newAttempt();
        first.draining = true;
      }
    }
    if (first == null) {
      deliverClose(cancelledBeforeStart, new Metadata(), true);
      return;
    }
    drainClaimed(first);
    if (hedging != null && hedging.maxAttempts() > 1) {
      planNextHedge(hedging.hedgingDelayNanos, false);
    }
  }

  @Override
  public void request(int numMessages) {
    if (numMessages < 0) {
      throw new IllegalArgumentException("numMessages must be >= 0: " + numMessages);
    }
    Attempt only;
    List<Attempt> several;
    synchronized (lock) {
      checkStarted();
      requested = requested + numMessages < 0 ? Integer.MAX_VALUE : requested + numMessages;
      only = open.size() == 1 ? open.get(0) : null;
      several = open.size() > 1 ? new ArrayList<>(open) : Collections.emptyList();
    }
    drainAll(only, several);
  }

  /** Drains the attempts that were open (outside the lock). */
  private void drainAll(@Nullable Attempt only, List<Attempt> several) {
    if (only != null) {
      drain(only);
    }
    for (Attempt attempt : several) {
      drain(attempt);
    }
  }

  @Override
  public void sendMessage(ReqT message) {
    // Once false, recording stays false: a stale true only costs a measurement.
    long size = recording ? MessageSizes.sizeOf(method, message) : 0;
    appendOutbound(message, size);
  }

  @Override
  public void halfClose() {
    appendOutbound(HALF_CLOSE, 0);
  }

  @Override
  public void setMessageCompression(boolean enabled) {
    appendOutbound(enabled ? COMPRESSION_ON : COMPRESSION_OFF, 0);
  }

  @Override
  public boolean isReady() {
    Attempt only;
    List<Attempt> several;
    synchronized (lock) {
      if (closed) {
        return false;
      }
      if (committed != null) {
        only = committed;
        several = Collections.emptyList();
      } else {
        only = open.size() == 1 ? open.get(0) : null;
        several = open.size() > 1 ? new ArrayList<>(open) : Collections.emptyList();
      }
    }
    // Ready when an attempt that has been replayed is ready.
    if (only != null && only.live && only.call != null && only.call.isReady()) {
      return true;
    }
    for (Attempt attempt : several) {
      if (!attempt.abandoned && attempt.live && attempt.call != null && attempt.call.isReady()) {
        return true;
      }
    }
    return false;
  }

  @Override
  public Attributes getAttributes() {
    Attempt attempt;
    synchronized (lock) {
      attempt = committed != null ? committed : open.isEmpty() ? null : open.get(0);
    }
    ClientCall<ReqT, RespT> call = attempt == null ? null : attempt.call;
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
    List<Attempt> toCancel = Collections.emptyList();
    boolean closeNow = false;
    synchronized (lock) {
      if (closed || cancelStatus != null) {
        return;
      }
      cancelStatus = status;
      cancelledByApplication = true;
      stopRecording();
      if (!started) {
        // Delivered when start() is called.
        return;
      }
      boolean waiting = nextAttemptTimer != null;
      cancelNextAttemptTimer();
      if (!open.isEmpty()) {
        for (Attempt attempt : open) {
          if (!attempt.cancelRequested) {
            attempt.requestCancel(message, cause);
          }
        }
        toCancel = new ArrayList<>(open);
      } else if (waiting || deciding == 0) {
        closeNow = true;
        markClosed();
      }
      // Otherwise an attempt that just closed is being classified; that path sees cancelStatus.
    }
    for (Attempt attempt : toCancel) {
      drain(attempt);
    }
    if (closeNow) {
      finishClose(status, new Metadata(), true);
    }
  }

  @Override
  public String toString() {
    return "RetryingCall{" + method.getFullMethodName() + '}';
  }

  private void checkStarted() {
    if (!started) {
      throw new IllegalStateException("Not started");
    }
  }

  /** Logs an outbound operation and sends it to the attempt in flight, if any. */
  private void appendOutbound(Object op, long size) {
    Attempt only;
    List<Attempt> several;
    Status giveUp = null;
    boolean claimed = false;
    synchronized (lock) {
      checkStarted();
      if (closed || cancelStatus != null) {
        return;
      }
      log.add(op);
      if (recording && size > 0) {
        account(size);
        if (bufferLimitReason != null) {
          // No later attempt could be given the whole request.
          if (hedging != null && noMoreHedges == null) {
            noMoreHedges = bufferLimitReason;
          }
          if (nextAttemptTimer != null && open.isEmpty()) {
            // Nothing is in flight: the pending attempt cannot be trusted with a partial log.
            cancelNextAttemptTimer();
            giveUp = giveUpStatus(lastStatus, bufferLimitReason);
            markClosed();
          } else {
            cancelNextAttemptTimer();
          }
        }
      }
      only = open.size() == 1 ? open.get(0) : null;
      several = open.size() > 1 ? new ArrayList<>(open) : Collections.emptyList();
      if (only != null) {
        if (only.draining) {
          only = null; // The thread draining it sends this operation too.
        } else {
          only.draining = true;
          claimed = true;
        }
      }
    }
    if (giveUp != null) {
      finishClose(giveUp, lastTrailersOrEmpty(), true);
    } else if (claimed) {
      drainClaimed(only);
    } else {
      drainAll(null, several);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Buffer accounting (under lock).

  private void account(long size) {
    long perCall = bufferedBytes + size;
    if (perCall > config.perCallBufferLimit || perCall < 0) {
      bufferLimitReason =
          "the request buffer limit was exceeded (per-call limit of "
              + config.perCallBufferLimit
              + " bytes)";
      stopRecording();
      return;
    }
    if (config.bufferedBytes.addAndGet(size) > config.totalBufferLimit) {
      config.bufferedBytes.addAndGet(-size);
      bufferLimitReason =
          "the request buffer limit was exceeded (limit of "
              + config.totalBufferLimit
              + " bytes for all calls of the interceptor)";
      stopRecording();
      return;
    }
    bufferedBytes = perCall;
  }

  /** No more retries will need the log: stop counting its bytes. */
  private void stopRecording() {
    recording = false;
    if (bufferedBytes > 0) {
      config.bufferedBytes.addAndGet(-bufferedBytes);
      bufferedBytes = 0;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Deadlines.

  /** Fixes the call's deadline: the earlier of the caller's two, else the policy's timeout. */
  private void computeDeadline(Context ctx) {
    Deadline optionsDeadline = baseOptions.getDeadline();
    Deadline contextDeadline = ctx.getDeadline();
    long remaining = Long.MAX_VALUE;
    if (optionsDeadline != null) {
      remaining = optionsDeadline.timeRemaining(TimeUnit.NANOSECONDS);
    }
    if (contextDeadline != null) {
      remaining = Math.min(remaining, contextDeadline.timeRemaining(TimeUnit.NANOSECONDS));
    }
    if (optionsDeadline == null && contextDeadline == null && policyTimeoutNanos > 0) {
      remaining = policyTimeoutNanos;
      baseOptions =
          baseOptions.withDeadline(Deadline.after(remaining, TimeUnit.NANOSECONDS, config.ticker));
    }
    hasDeadline = remaining != Long.MAX_VALUE;
    if (hasDeadline) {
      deadlineNanos = saturatedAdd(config.ticker.nanoTime(), remaining);
    }
  }

  private static long saturatedAdd(long a, long b) {
    long sum = a + b;
    return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
  }

  // ---------------------------------------------------------------------------------------------
  // Attempts.

  /** Creates the next attempt and adds it to the open ones (under lock). */
  private Attempt newAttempt() {
    CallOptions options = baseOptions;
    long attemptDeadline = hasDeadline ? deadlineNanos : Long.MAX_VALUE;
    boolean ownTimeout = false;
    if (perAttemptTimeoutNanos > 0) {
      long limit = saturatedAdd(config.ticker.nanoTime(), perAttemptTimeoutNanos);
      if (limit < attemptDeadline) {
        attemptDeadline = limit;
        ownTimeout = true;
        options =
            options.withDeadline(
                Deadline.after(perAttemptTimeoutNanos, TimeUnit.NANOSECONDS, config.ticker));
      }
    }
    Attempt attempt = new Attempt(attempts++, options, attemptDeadline, ownTimeout);
    open.add(attempt);
    if (ownTimeout) {
      attempt.timer =
          config.scheduler.schedule(
              () -> attemptTimedOut(attempt), perAttemptTimeoutNanos, TimeUnit.NANOSECONDS);
    }
    return attempt;
  }

  private Metadata headersFor(Attempt attempt) {
    synchronized (lock) {
      if (attempt.index == 0 && firstAttemptHeaders != null) {
        Metadata headers = firstAttemptHeaders;
        firstAttemptHeaders = null;
        return headers;
      }
    }
    Metadata headers = new Metadata();
    headers.merge(headersCopy);
    if (attempt.index > 0) {
      headers.put(PREVIOUS_ATTEMPTS_KEY, Integer.toString(attempt.index));
    }
    return headers;
  }

  /**
   * Sends an attempt what it has not yet been sent: its start, the requested message count and
   * the logged operations, in order. Only one thread drains a given attempt at a time; a thread
   * that finds another draining leaves its operation in the log for that thread to send.
   */
  private void drain(Attempt attempt) {
    synchronized (lock) {
      if (attempt.draining) {
        return;
      }
      attempt.draining = true;
    }
    drainClaimed(attempt);
  }

  /** {@link #drain} for a thread that has already set {@code attempt.draining} under the lock. */
  private void drainClaimed(Attempt attempt) {
    boolean replayed = false;
    while (true) {
      int kind;
      Object op = null;
      int count = 0;
      synchronized (lock) {
        if (attempt.cancelled || attempt.closed) {
          attempt.draining = false;
          return;
        }
        if (attempt.cancelRequested) {
          attempt.cancelled = true;
          kind = attempt.started ? OP_CANCEL : OP_ABANDON_UNSTARTED;
        } else if (!attempt.started) {
          attempt.started = true;
          kind = OP_START;
        } else if (attempt.requestSent < requested) {
          count = requested - attempt.requestSent;
          attempt.requestSent = requested;
          kind = OP_REQUEST;
        } else if (attempt.replayed < log.size()) {
          op = log.get(attempt.replayed++);
          kind = OP_OUTBOUND;
        } else {
          attempt.draining = false;
          if (!attempt.live) {
            attempt.live = true;
            replayed = attempt.index > 0;
          }
          if (!recording && open.size() == 1 && open.get(0) == attempt) {
            // No other attempt will read the log: it was only a hand-off queue.
            log.clear();
            attempt.replayed = 0;
          }
          break;
        }
      }
      try {
        perform(attempt, kind, op, count);
      } catch (RuntimeException e) {
        failAttempt(attempt, e);
        return;
      }
      if (kind == OP_ABANDON_UNSTARTED) {
        synchronized (lock) {
          attempt.draining = false;
        }
        return;
      }
    }
    if (replayed) {
      readyAfterReplay(attempt);
    }
  }

  private static final int OP_START = 0;
  private static final int OP_REQUEST = 1;
  private static final int OP_OUTBOUND = 2;
  private static final int OP_CANCEL = 3;
  private static final int OP_ABANDON_UNSTARTED = 4;

  private void perform(Attempt attempt, int kind, @Nullable Object op, int count) {
    switch (kind) {
      case OP_START:
        startAttempt(attempt);
        return;
      case OP_REQUEST:
        attempt.call.request(count);
        return;
      case OP_OUTBOUND:
        if (op == HALF_CLOSE) {
          attempt.call.halfClose();
        } else if (op == COMPRESSION_ON) {
          attempt.call.setMessageCompression(true);
        } else if (op == COMPRESSION_OFF) {
          attempt.call.setMessageCompression(false);
        } else {
          @SuppressWarnings("unchecked")
          ReqT message = (ReqT) op;
          attempt.call.sendMessage(message);
        }
        return;
      case OP_CANCEL:
        attempt.call.cancel(attempt.cancelMessage, attempt.cancelCause);
        return;
      case OP_ABANDON_UNSTARTED:
        // Never started, so no onClose will come from the channel: close it here.
        attemptClosed(attempt, attempt.cancelStatus(), new Metadata(), true);
        return;
      default:
        throw new AssertionError(kind);
    }
  }

  private void startAttempt(Attempt attempt) {
    Metadata headers = headersFor(attempt);
    Context previous = context.attach();
    try {
      ClientCall<ReqT, RespT> call = next.newCall(method, attempt.options);
      attempt.call = call;
      call.start(attempt, headers);
    } finally {
      context.detach(previous);
    }
  }

  /** An operation on an attempt threw: end the attempt, and with it the call. */
  private void failAttempt(Attempt attempt, RuntimeException e) {
    boolean started;
    synchronized (lock) {
      attempt.draining = false;
      attempt.failure = e;
      started = attempt.call != null && !attempt.cancelled;
      attempt.cancelled = true;
    }
    if (started) {
      attempt.call.cancel("grpc-retry: sending to the attempt failed", e);
    } else {
      attemptClosed(
          attempt,
          Status.INTERNAL.withDescription("grpc-retry: starting an attempt failed").withCause(e),
          new Metadata(),
          true);
    }
  }

  private void readyAfterReplay(Attempt attempt) {
    SerializedListener<RespT> listener;
    synchronized (lock) {
      if (closed
          || attempt.abandoned
          || attempt.closed
          || attempt.call == null
          || (committed != null && committed != attempt)) {
        return;
      }
      listener = app;
    }
    if (attempt.call.isReady()) {
      listener.onReady();
    }
  }

  private Status perAttemptTimeoutStatus() {
    return Status.DEADLINE_EXCEEDED.withDescription(
        "grpc-retry: per-attempt timeout of " + Duration.ofNanos(perAttemptTimeoutNanos) + " exceeded");
  }

  private void attemptTimedOut(Attempt attempt) {
    synchronized (lock) {
      attempt.timer = null;
      if (attempt.closed || attempt.cancelRequested) {
        return;
      }
      attempt.timedOut = true;
      attempt.requestCancel(
          "grpc-retry: per-attempt timeout of " + Duration.ofNanos(perAttemptTimeoutNanos) + " exceeded",
          null);
    }
    drain(attempt);
  }

  // ---------------------------------------------------------------------------------------------
  // Responses.

  private void attemptHeaders(Attempt attempt, Metadata headers) {
    SerializedListener<RespT> listener = commitForResponse(attempt);
    if (listener != null) {
      listener.onHeaders(headers);
    }
  }

  private void attemptMessage(Attempt attempt, RespT message) {
    SerializedListener<RespT> listener = commitForResponse(attempt);
    if (listener != null) {
      listener.onMessage(message);
    }
  }

  /**
   * A response arrived on {@code attempt}: commits the call to it if not yet committed, and
   * returns the listener to pass the response to, or null if the response must be dropped.
   */
  private @Nullable SerializedListener<RespT> commitForResponse(Attempt attempt) {
    SerializedListener<RespT> listener;
    boolean firstAnswer;
    List<Attempt> losers;
    synchronized (lock) {
      firstAnswer = !attempt.answered;
      losers = commitTo(attempt);
      if (losers == null) {
        return null;
      }
      listener = app;
    }
    afterCommit(attempt, firstAnswer, losers);
    return listener;
  }

  private void afterCommit(Attempt winner, boolean firstAnswer, List<Attempt> losers) {
    if (firstAnswer) {
      budget.recordOutcome(winner.index + 1, RetryBudget.Outcome.SUCCESS);
    }
    for (Attempt loser : losers) {
      drain(loser);
    }
  }

  private void attemptReady(Attempt attempt) {
    SerializedListener<RespT> listener;
    synchronized (lock) {
      if (closed
          || attempt.abandoned
          || !attempt.live
          || (committed != null && committed != attempt)) {
        return;
      }
      listener = app;
    }
    listener.onReady();
  }

  /**
   * Commits the call to {@code attempt} (under lock). Returns null if the attempt's responses must
   * be dropped, else the attempts it beat, abandoned and to be cancelled (usually none).
   */
  private @Nullable List<Attempt> commitTo(Attempt attempt) {
    if (closed || attempt.abandoned || attempt.cancelled) {
      return null;
    }
    if (committed == null) {
      committed = attempt;
      stopRecording();
      attempt.answered = true;
      cancelNextAttemptTimer();
      return abandonOthers(attempt, "grpc-retry: another attempt won");
    }
    return committed == attempt ? Collections.emptyList() : null;
  }

  /** Abandons every open attempt but {@code keep} (under lock); returns them, to be drained. */
  private List<Attempt> abandonOthers(@Nullable Attempt keep, String why) {
    List<Attempt> others = Collections.emptyList();
    for (Attempt other : open) {
      if (other != keep && !other.abandoned) {
        other.abandoned = true;
        if (!other.cancelRequested) {
          other.requestCancel(why, null);
        }
        if (others.isEmpty()) {
          others = new ArrayList<>(2);
        }
        others.add(other);
      }
    }
    return others;
  }



  /** What became of a failed attempt, worked out outside the lock. */
  private static final class Verdict {
    Status status;
    @Nullable String stopReason;
    /** Set when retrying stopped for overload: the value of the upstream marker. */
    @Nullable String overload;
    long delayNanos;
    boolean serverDelay;

    Verdict(Status status) {
      this.status = status;
    }
  }

  private void attemptClosed(Attempt attempt, Status status, Metadata trailers, boolean synthetic) {
    ScheduledFuture<?> timer;
    Status finalStatus = null;
    Metadata finalTrailers = trailers;
    Status heldClose = null;
    Metadata heldTrailers = null;
    List<Attempt> losers = Collections.emptyList();
    int attemptNumber = -1;
    boolean unanswered;
    synchronized (lock) {
      unanswered = !attempt.answered;
      attempt.answered = true;
      attempt.closed = true;
      timer = attempt.timer;
      attempt.timer = null;
      open.remove(attempt);
      if (closed || attempt.abandoned) {
        // Nothing of this attempt reaches the application; it may be the last one the final
        // close was waiting for.
        if (closed && pendingClose != null && open.isEmpty()) {
          heldClose = pendingClose;
          heldTrailers = pendingCloseTrailers;
          pendingClose = null;
          pendingCloseTrailers = null;
        }
      } else {
        attemptNumber = attempt.index + 1;
        lastStatus = status;
        lastTrailers = trailers;
        if (committed == attempt) {
          finalStatus = attempt.timedOut ? perAttemptTimeoutStatus() : status;
        } else if (cancelStatus != null && cancelledByApplication) {
          if (!hasLiveAttempt()) {
            finalStatus = cancelStatus;
            finalTrailers = new Metadata();
          } else {
            attemptNumber = -1; // The others' closes will end the call.
          }
        } else if (attempt.failure != null || status.isOk() || context.isCancelled()) {
          finalStatus = status;
        }
        if (finalStatus != null) {
          losers = abandonOthers(attempt, "grpc-retry: the call ended");
          markClosed();
        } else if (attemptNumber > 0) {
          deciding++;
        }
      }
    }
    if (timer != null) {
      timer.cancel(false);
    }
    for (Attempt loser : losers) {
      drain(loser);
    }
    if (heldClose != null) {
      finishClose(heldClose, heldTrailers, false);
      return;
    }
    if (attemptNumber < 0) {
      return;
    }
    if (finalStatus != null) {
      if (status.isOk() && unanswered) {
        // An OK with no headers and no message (a trailers-only response).
        budget.recordOutcome(attemptNumber, RetryBudget.Outcome.SUCCESS);
      }
      finishClose(finalStatus, finalTrailers, synthetic);
      return;
    }
    if (hedging != null) {
      decideHedge(attempt, attemptNumber, status, trailers, synthetic);
    } else {
      decide(attempt, attemptNumber, status, trailers, synthetic);
    }
  }

  /** Whether an attempt that is not abandoned is still open (under lock). */
  private boolean hasLiveAttempt() {
    for (Attempt attempt : open) {
      if (!attempt.abandoned) {
        return true;
      }
    }
    return false;
  }

  /** The attempt failed before commit: retry it, or end the call with its status. */
  private void decide(
      Attempt attempt, int attemptNumber, Status status, Metadata trailers, boolean synthetic) {
    long now = config.ticker.nanoTime();
    boolean deadlineHit =
        attempt.deadlineNanos != Long.MAX_VALUE
            && now >= attempt.deadlineNanos - DEADLINE_TOLERANCE_NANOS;
    boolean attemptTimedOut =
        attempt.timedOut
            || (attempt.ownTimeout && deadlineHit && status.getCode() == Status.Code.DEADLINE_EXCEEDED);
    Verdict verdict = new Verdict(attemptTimedOut ? perAttemptTimeoutStatus() : status);
    boolean callDeadlineHit =
        hasDeadline && now >= deadlineNanos - DEADLINE_TOLERANCE_NANOS;
    long hint = ServerHints.retryDelayNanos(status, trailers);
    if (callDeadlineHit) {
      verdict.stopReason = "the call's deadline was exceeded";
      budget.recordOutcome(attemptNumber, RetryBudget.Outcome.NON_RETRYABLE_FAILURE);
    } else {
      AttemptFailure failure =
          new AttemptFailure(
              verdict.status, trailers, method, policy, attemptNumber, attemptTimedOut);
      StatusClassifier.Category category = config.classifier.classify(failure);
      boolean retryable = category == StatusClassifier.Category.RETRYABLE;
      budget.recordOutcome(
          attemptNumber,
          retryable || hint == ServerHints.DO_NOT_RETRY
              ? RetryBudget.Outcome.RETRYABLE_FAILURE
              : RetryBudget.Outcome.NON_RETRYABLE_FAILURE);
      if (!retryable) {
        verdict.stopReason =
            attemptTimedOut
                ? "a per-attempt timeout is retried only for idempotent or side-effect-free methods"
                : "status " + status.getCode() + " is not retryable";
      } else if (hint == ServerHints.DO_NOT_RETRY) {
        verdict.stopReason = "the server asked not to retry (grpc-retry-pushback-ms)";
        verdict.overload = "pushback";
      } else if (attemptNumber >= retry.maxAttempts()) {
        verdict.stopReason = "maxAttempts (" + retry.maxAttempts() + ") reached";
      } else if (bufferLimitExceeded() != null) {
        verdict.stopReason = bufferLimitExceeded();
      } else {
        planRetry(verdict, hint, now);
      }
    }
    Attempt next = null;
    Status closeWith;
    synchronized (lock) {
      deciding--;
      if (closed) {
        return;
      }
      if (cancelStatus != null) {
        closeWith = cancelledByApplication ? cancelStatus : withLastAttempt(cancelStatus, verdict.status);
      } else if (verdict.stopReason == null && bufferLimitReason != null) {
        closeWith = giveUpStatus(verdict.status, bufferLimitReason);
      } else if (verdict.stopReason != null) {
        closeWith = giveUpStatus(verdict.status, verdict.stopReason);
      } else {
        closeWith = null;
        if (verdict.delayNanos == 0) {
          next = newAttempt();
        } else {
          nextAttemptTimer =
              config.scheduler.schedule(
                  this::nextAttemptDue, verdict.delayNanos, TimeUnit.NANOSECONDS);
          watchContext();
        }
      }
      if (closeWith != null) {
        markClosed();
      }
    }
    if (closeWith != null) {
      if (verdict.overload != null && cancelStatus == null) {
        trailers.put(UpstreamPushbackInterceptor.GAVE_UP_KEY, verdict.overload);
      }
      finishClose(closeWith, trailers, synthetic);
    } else if (next != null) {
      startOnCallExecutor(next);
    }
  }

  /** A hedge closed before commit: send the next, wait for the others, or end the call. */
  private void decideHedge(
      Attempt attempt, int attemptNumber, Status status, Metadata trailers, boolean synthetic) {
    long now = config.ticker.nanoTime();
    boolean callDeadlineHit = hasDeadline && now >= deadlineNanos - DEADLINE_TOLERANCE_NANOS;
    long hint = ServerHints.retryDelayNanos(status, trailers);
    String fatalReason = null;
    if (callDeadlineHit) {
      fatalReason = "the call's deadline was exceeded";
      budget.recordOutcome(attemptNumber, RetryBudget.Outcome.NON_RETRYABLE_FAILURE);
    } else {
      AttemptFailure failure =
          new AttemptFailure(status, trailers, method, policy, attemptNumber, false);
      boolean nonFatal =
          config.classifier.classify(failure) == StatusClassifier.Category.RETRYABLE;
      budget.recordOutcome(
          attemptNumber,
          nonFatal || hint == ServerHints.DO_NOT_RETRY
              ? RetryBudget.Outcome.RETRYABLE_FAILURE
              : RetryBudget.Outcome.NON_RETRYABLE_FAILURE);
      if (!nonFatal) {
        fatalReason = "status " + status.getCode() + " is fatal (not in nonFatalStatusCodes)";
      }
    }
    boolean sendNow = false;
    Status closeWith = null;
    String overload = null;
    List<Attempt> losers = Collections.emptyList();
    synchronized (lock) {
      deciding--;
      if (closed) {
        return;
      }
      if (cancelStatus != null) {
        if (hasLiveAttempt()) {
          return; // The others' closes end the call.
        }
        closeWith = cancelledByApplication ? cancelStatus : withLastAttempt(cancelStatus, status);
      } else if (fatalReason != null) {
        losers = abandonOthers(null, "grpc-retry: another attempt failed fatally");
        closeWith = giveUpStatus(status, fatalReason);
      } else {
        if (hint == ServerHints.DO_NOT_RETRY && noMoreHedges == null) {
          noMoreHedges = "the server asked not to retry (grpc-retry-pushback-ms)";
          noMoreHedgesOverload = "pushback";
          cancelNextAttemptTimer();
        }
        if (noMoreHedges == null && attempts < hedging.maxAttempts()) {
          cancelNextAttemptTimer();
          if (hint < 0) {
            sendNow = true;
          } else if (!hasDeadline || saturatedAdd(now, hint) < deadlineNanos) {
            // The server's delay replaces the hedging delay for the next hedge.
            nextAttemptTimer =
                config.scheduler.schedule(this::nextAttemptDue, hint, TimeUnit.NANOSECONDS);
            watchContext();
          }
        } else {
          // Nothing more will be sent: a hedging timer armed earlier has nothing to do.
          cancelNextAttemptTimer();
        }
        if (!sendNow && nextAttemptTimer == null && !hasLiveAttempt()) {
          closeWith =
              giveUpStatus(
                  status,
                  noMoreHedges != null
                      ? noMoreHedges
                      : attempts >= hedging.maxAttempts()
                          ? "maxAttempts (" + hedging.maxAttempts() + ") reached"
                          : "the next hedge would start at or after the deadline");
          overload = noMoreHedgesOverload;
        }
      }
      if (closeWith != null) {
        markClosed();
      }
    }
    for (Attempt loser : losers) {
      drain(loser);
    }
    if (closeWith != null) {
      if (overload != null && cancelStatus == null) {
        trailers.put(UpstreamPushbackInterceptor.GAVE_UP_KEY, overload);
      }
      finishClose(closeWith, trailers, synthetic);
    } else if (sendNow) {
      sendHedge(false);
    }
  }

  /**
   * Schedules the next hedge {@code delayNanos} from now, or sends it at once when the delay is
   * zero, unless the call is committed, closed or out of hedges.
   */
  private void planNextHedge(long delayNanos, boolean onTimerThread) {
    synchronized (lock) {
      if (closed
          || committed != null
          || noMoreHedges != null
          || attempts >= hedging.maxAttempts()
          || nextAttemptTimer != null) {
        return;
      }
      if (delayNanos > 0) {
        long now = config.ticker.nanoTime();
        if (!hasDeadline || saturatedAdd(now, delayNanos) < deadlineNanos) {
          nextAttemptTimer =
              config.scheduler.schedule(this::nextAttemptDue, delayNanos, TimeUnit.NANOSECONDS);
        }
        return;
      }
    }
    sendHedge(onTimerThread);
  }

  /** Sends one more hedge if the budget allows, then plans the one after it. */
  private void sendHedge(boolean onTimerThread) {
    Status closeNow = null;
    Metadata closeTrailers = null;
    synchronized (lock) {
      if (closed || committed != null) {
        return;
      }
      if (noMoreHedges != null || attempts >= hedging.maxAttempts()) {
        // A timer that fired with nothing left to send: if nothing is in flight either, the
        // call ends here, since no other event would end it.
        if (!hasLiveAttempt() && deciding == 0 && nextAttemptTimer == null) {
          closeNow =
              giveUpStatus(
                  lastStatus,
                  noMoreHedges != null
                      ? noMoreHedges
                      : "maxAttempts (" + hedging.maxAttempts() + ") reached");
          closeTrailers = lastTrailers != null ? lastTrailers : new Metadata();
          if (noMoreHedgesOverload != null) {
            closeTrailers.put(UpstreamPushbackInterceptor.GAVE_UP_KEY, noMoreHedgesOverload);
          }
          markClosed();
        }
      }
    }
    if (closeNow != null) {
      finishClose(closeNow, closeTrailers, onTimerThread);
      return;
    }
    synchronized (lock) {
      if (noMoreHedges != null || attempts >= hedging.maxAttempts()) {
        return;
      }
    }
    Attempt hedge = null;
    Status closeWith = null;
    Metadata trailers = null;
    if (!budget.tryAcquire(RetryBudget.AttemptKind.HEDGE)) {
      synchronized (lock) {
        if (closed) {
          return;
        }
        noMoreHedges = "the retry budget refused another attempt";
        noMoreHedgesOverload = "budget";
        if (!hasLiveAttempt() && deciding == 0 && nextAttemptTimer == null) {
          closeWith = giveUpStatus(lastStatus, noMoreHedges);
          trailers = lastTrailers != null ? lastTrailers : new Metadata();
          markClosed();
        }
      }
      if (closeWith != null) {
        trailers.put(UpstreamPushbackInterceptor.GAVE_UP_KEY, "budget");
        finishClose(closeWith, trailers, true);
      }
      return;
    }
    synchronized (lock) {
      if (closed || committed != null) {
        return;
      }
      hedge = newAttempt();
    }
    if (onTimerThread) {
      startOnCallExecutor(hedge);
    } else {
      drain(hedge);
    }
    planNextHedge(hedging.hedgingDelayNanos, onTimerThread);
  }

  private @Nullable String bufferLimitExceeded() {
    synchronized (lock) {
      return bufferLimitReason;
    }
  }

  /** Picks the delay before the next attempt, or the reason not to make one. */
  private void planRetry(Verdict verdict, long hint, long now) {
    long delay;
    if (hint >= 0) {
      delay = hint;
      verdict.serverDelay = true;
    } else {
      int retryNumber;
      long previous;
      synchronized (lock) {
        retryNumber = ++backoffRetry;
        previous = previousBackoffNanos;
      }
      delay =
          Backoff.delayNanos(
              retry.jitter(),
              retry.initialBackoffNanos,
              retry.maxBackoffNanos,
              retry.backoffMultiplier(),
              retryNumber,
              previous,
              config.random.getAsDouble());
    }
    if (hasDeadline && saturatedAdd(now, delay) >= deadlineNanos) {
      verdict.stopReason =
          "the next attempt (after "
              + Duration.ofNanos(delay)
              + ") would start at or after the deadline ("
              + Duration.ofNanos(Math.max(0, deadlineNanos - now))
              + " left)";
      return;
    }
    if (!budget.tryAcquire(RetryBudget.AttemptKind.RETRY)) {
      verdict.stopReason = "the retry budget refused another attempt";
      verdict.overload = "budget";
      return;
    }
    verdict.delayNanos = delay;
    synchronized (lock) {
      if (verdict.serverDelay) {
        // gRFC A6: a server-chosen delay starts the backoff sequence over.
        backoffRetry = 0;
        previousBackoffNanos = 0;
      } else {
        previousBackoffNanos = delay;
      }
    }
  }

  /** The backoff or the hedging delay has passed: start the next attempt. */
  private void nextAttemptDue() {
    Attempt next;
    Status deadline = null;
    synchronized (lock) {
      if (closed || nextAttemptTimer == null) {
        return;
      }
      nextAttemptTimer = null;
      if (hedging != null) {
        next = null;
      } else if (hasDeadline && config.ticker.nanoTime() >= deadlineNanos) {
        deadline = withLastAttempt(Status.DEADLINE_EXCEEDED.withDescription(
            "grpc-retry: the call's deadline passed during backoff"), lastStatus);
        markClosed();
        next = null;
      } else {
        next = newAttempt();
      }
    }
    if (hedging != null) {
      sendHedge(true);
    } else if (deadline != null) {
      finishClose(deadline, lastTrailersOrEmpty(), true);
    } else {
      startOnCallExecutor(next);
    }
  }

  /** Cancels the backoff or hedging timer, if any (under lock). */
  private void cancelNextAttemptTimer() {
    if (nextAttemptTimer != null) {
      nextAttemptTimer.cancel(false);
      nextAttemptTimer = null;
    }
  }

  private void startOnCallExecutor(Attempt attempt) {
    if (callExecutor == null) {
      drain(attempt);
      return;
    }
    try {
      callExecutor.execute(() -> drain(attempt));
    } catch (RejectedExecutionException e) {
      synchronized (lock) {
        attempt.cancelled = true;
        attempt.failure = e;
      }
      attemptClosed(
          attempt,
          Status.INTERNAL.withDescription("grpc-retry: the call's executor rejected a retry").withCause(e),
          new Metadata(),
          false);
    }
  }

  /** Ends the call when its Context is cancelled during backoff (under lock). */
  private void watchContext() {
    if (contextListener != null || context == Context.ROOT) {
      // Context.ROOT can never be cancelled; every other context may be, or may have a deadline.
      return;
    }
    Context.CancellationListener listener = ctx -> contextCancelled();
    contextListener = listener;
    context.addListener(listener, Runnable::run);
  }

  private void contextCancelled() {
    Status status = Contexts.statusFromCancelled(context);
    if (status == null) {
      return;
    }
    boolean closeNow = false;
    synchronized (lock) {
      if (closed || cancelStatus != null) {
        return;
      }
      cancelStatus = status;
      stopRecording();
      if (nextAttemptTimer != null && open.isEmpty()) {
        cancelNextAttemptTimer();
        closeNow = true;
        markClosed();
      } else {
        cancelNextAttemptTimer();
      }
      // Attempts in flight see the cancellation themselves; a deciding one sees cancelStatus.
    }
    if (closeNow) {
      finishClose(withLastAttempt(status, lastStatus), lastTrailersOrEmpty(), true);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Closing.

  /** Marks the call closed and releases what it holds (under lock). */
  private void markClosed() {
    closed = true;
    stopRecording();
    if (open.isEmpty()) {
      log.clear();
    }
    cancelNextAttemptTimer();
  }

  /**
   * Delivers the call's final status once the last open attempt has closed; until then it is
   * held, and the last attempt's close delivers it.
   */
  private void finishClose(Status status, Metadata trailers, boolean viaExecutor) {
    Context.CancellationListener listener;
    synchronized (lock) {
      if (!open.isEmpty()) {
        pendingClose = status;
        pendingCloseTrailers = trailers;
        return;
      }
      log.clear();
      listener = contextListener;
      contextListener = null;
    }
    if (listener != null) {
      context.removeListener(listener);
    }
    deliverClose(status, trailers, viaExecutor);
  }

  private void deliverClose(Status status, Metadata trailers, boolean viaExecutor) {
    SerializedListener<RespT> listener = app;
    if (viaExecutor && callExecutor != null) {
      try {
        callExecutor.execute(() -> listener.onClose(status, trailers));
        return;
      } catch (RejectedExecutionException e) {
        // Nothing else can run the callback: run it here rather than lose it.
      }
    }
    listener.onClose(status, trailers);
  }

  private Metadata lastTrailersOrEmpty() {
    synchronized (lock) {
      return lastTrailers != null ? lastTrailers : new Metadata();
    }
  }

  private Status giveUpStatus(@Nullable Status last, String reason) {
    Status base = last != null ? last : Status.UNKNOWN;
    int made = attempts;
    String note =
        "grpc-retry: "
            + made
            + (made == 1 ? " attempt" : " attempts")
            + " made; not retried because "
            + reason;
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
            + attempts
            + (attempts == 1 ? " attempt" : " attempts")
            + " made; last attempt: "
            + lastText
            + "]");
  }

  // ---------------------------------------------------------------------------------------------

  /** One attempt: a call on the channel below, and the listener that receives its callbacks. */
  private final class Attempt extends ClientCall.Listener<RespT> {
    final int index;
    final CallOptions options;
    final long deadlineNanos;
    final boolean ownTimeout;
    volatile ClientCall<ReqT, RespT> call;
    // Guarded by lock.
    boolean started;
    boolean draining;
    boolean live;
    int replayed;
    int requestSent;
    boolean cancelRequested;
    boolean cancelled;
    /** Lost to another attempt or to the end of the call: its callbacks are dropped. */
    boolean abandoned;
    /** Whether the server answered (headers, a message or a close): its outcome is recorded. */
    boolean answered;
    boolean closed;
    boolean timedOut;
    @Nullable String cancelMessage;
    @Nullable Throwable cancelCause;
    @Nullable RuntimeException failure;
    @Nullable ScheduledFuture<?> timer;

    Attempt(int index, CallOptions options, long deadlineNanos, boolean ownTimeout) {
      this.index = index;
      this.options = options;
      this.deadlineNanos = deadlineNanos;
      this.ownTimeout = ownTimeout;
    }

    void requestCancel(@Nullable String message, @Nullable Throwable cause) {
      cancelRequested = true;
      cancelMessage = message;
      cancelCause = cause;
    }

    Status cancelStatus() {
      return Status.CANCELLED.withDescription(cancelMessage).withCause(cancelCause);
    }

    @Override
    public void onHeaders(Metadata headers) {
      attemptHeaders(this, headers);
    }

    @Override
    public void onMessage(RespT message) {
      attemptMessage(this, message);
    }

    @Override
    public void onReady() {
      attemptReady(this);
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
      attemptClosed(this, status, trailers, false);
    }

    @Override
    public String toString() {
      return "attempt " + (index + 1) + " of " + method.getFullMethodName();
    }
  }

  private static final class Marker {
    private final String name;

    Marker(String name) {
      this.name = name;
    }

    @Override
    public String toString() {
      return name;
    }
  }
}
