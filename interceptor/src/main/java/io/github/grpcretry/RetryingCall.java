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
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * One call as the application sees it, carried out by one attempt after another on the channel
 * below.
 *
 * <h2>States</h2>
 *
 * <ul>
 *   <li>not started: before {@link #start};
 *   <li>attempt in flight: {@code current != null}; outbound operations are appended to the log and
 *       drained into the attempt;
 *   <li>deciding: the attempt has closed and its outcome is being classified outside the lock
 *       ({@code current == null}, no timer);
 *   <li>backoff: {@code backoffTimer != null}; operations are only logged;
 *   <li>committed: {@code committed != null}; the log is only a hand-off queue to that attempt;
 *   <li>closed: the application's {@code onClose} has been delivered or queued.
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
  private final RetryPolicy policy;
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
  private @Nullable Attempt current;
  private @Nullable Attempt committed;
  private @Nullable ScheduledFuture<?> backoffTimer;
  private int attempts;
  private int backoffRetry;
  private long previousBackoffNanos;
  private @Nullable Status lastStatus;
  private @Nullable Metadata lastTrailers;
  private final ArrayList<Object> log = new ArrayList<>(4);
  private int requested;
  private boolean recording = true;
  private long bufferedBytes;
  private @Nullable String bufferLimitReason;
  private Context.@Nullable CancellationListener contextListener;

  RetryingCall(
      RetryInterceptor config,
      MethodDescriptor<ReqT, RespT> method,
      CallOptions callOptions,
      Channel next,
      RetryPolicy policy,
      RetryBudget budget) {
    this.config = config;
    this.budget = budget;
    this.method = method;
    this.baseOptions = callOptions;
    this.next = next;
    this.policy = policy;
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
      }
    }
    if (first == null) {
      deliverClose(cancelledBeforeStart, new Metadata(), true);
      return;
    }
    drain(first);
  }

  @Override
  public void request(int numMessages) {
    if (numMessages < 0) {
      throw new IllegalArgumentException("numMessages must be >= 0: " + numMessages);
    }
    Attempt target;
    synchronized (lock) {
      checkStarted();
      requested = requested + numMessages < 0 ? Integer.MAX_VALUE : requested + numMessages;
      target = current;
    }
    if (target != null) {
      drain(target);
    }
  }

  @Override
  public void sendMessage(ReqT message) {
    boolean measure;
    synchronized (lock) {
      checkStarted();
      measure = recording;
    }
    long size = measure ? MessageSizes.sizeOf(method, message) : 0;
    appendOutbound(message, size);
  }

  @Override
  public void halfClose() {
    synchronized (lock) {
      checkStarted();
    }
    appendOutbound(HALF_CLOSE, 0);
  }

  @Override
  public void setMessageCompression(boolean enabled) {
    synchronized (lock) {
      checkStarted();
    }
    appendOutbound(enabled ? COMPRESSION_ON : COMPRESSION_OFF, 0);
  }

  @Override
  public boolean isReady() {
    Attempt attempt;
    synchronized (lock) {
      attempt = current;
      if (closed || attempt == null || !attempt.live || attempt.call == null) {
        return false;
      }
    }
    return attempt.call.isReady();
  }

  @Override
  public Attributes getAttributes() {
    Attempt attempt;
    synchronized (lock) {
      attempt = committed != null ? committed : current;
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
    Attempt toCancel = null;
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
      if (current != null) {
        current.requestCancel(message, cause);
        toCancel = current;
      } else if (backoffTimer != null) {
        backoffTimer.cancel(false);
        backoffTimer = null;
        closeNow = true;
        markClosed();
      }
      // Otherwise the attempt that just closed is being classified; that path sees cancelStatus.
    }
    if (toCancel != null) {
      drain(toCancel);
    } else if (closeNow) {
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
    Attempt target;
    Status giveUp = null;
    synchronized (lock) {
      if (closed || cancelStatus != null) {
        return;
      }
      log.add(op);
      if (recording && size > 0) {
        account(size);
        if (bufferLimitReason != null && backoffTimer != null) {
          // Nothing is in flight: the pending retry cannot be trusted with a partial log.
          backoffTimer.cancel(false);
          backoffTimer = null;
          giveUp = giveUpStatus(lastStatus, bufferLimitReason);
          markClosed();
        }
      }
      target = current;
    }
    if (giveUp != null) {
      finishClose(giveUp, lastTrailersOrEmpty(), true);
    } else if (target != null) {
      drain(target);
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
    if (optionsDeadline == null && contextDeadline == null && policy.timeoutNanos > 0) {
      remaining = policy.timeoutNanos;
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

  /** Creates the next attempt and makes it current (under lock). */
  private Attempt newAttempt() {
    long now = config.ticker.nanoTime();
    CallOptions options = baseOptions;
    long attemptDeadline = hasDeadline ? deadlineNanos : Long.MAX_VALUE;
    boolean ownTimeout = false;
    if (policy.perAttemptTimeoutNanos > 0) {
      long limit = saturatedAdd(now, policy.perAttemptTimeoutNanos);
      if (limit < attemptDeadline) {
        attemptDeadline = limit;
        ownTimeout = true;
        options =
            options.withDeadline(
                Deadline.after(policy.perAttemptTimeoutNanos, TimeUnit.NANOSECONDS, config.ticker));
      }
    }
    Attempt attempt = new Attempt(attempts++, options, attemptDeadline, ownTimeout);
    current = attempt;
    if (ownTimeout) {
      attempt.timer =
          config.scheduler.schedule(
              () -> attemptTimedOut(attempt), policy.perAttemptTimeoutNanos, TimeUnit.NANOSECONDS);
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
          if (!recording && attempt == current) {
            // No later attempt will replay the log: it was only a hand-off queue.
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
      if (closed || attempt != current || attempt.closed || attempt.call == null) {
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
        "grpc-retry: per-attempt timeout of "
            + Duration.ofNanos(policy.perAttemptTimeoutNanos)
            + " exceeded");
  }

  private void attemptTimedOut(Attempt attempt) {
    synchronized (lock) {
      attempt.timer = null;
      if (attempt.closed || attempt.cancelRequested) {
        return;
      }
      attempt.timedOut = true;
      attempt.requestCancel(
          "grpc-retry: per-attempt timeout of "
              + Duration.ofNanos(policy.perAttemptTimeoutNanos)
              + " exceeded",
          null);
    }
    drain(attempt);
  }

  // ---------------------------------------------------------------------------------------------
  // Responses.

  private void attemptHeaders(Attempt attempt, Metadata headers) {
    SerializedListener<RespT> listener;
    boolean firstAnswer;
    synchronized (lock) {
      firstAnswer = !attempt.answered;
      if (!commitTo(attempt)) {
        return;
      }
      listener = app;
    }
    if (firstAnswer) {
      budget.recordOutcome(attempt.index + 1, RetryBudget.Outcome.SUCCESS);
    }
    listener.onHeaders(headers);
  }

  private void attemptMessage(Attempt attempt, RespT message) {
    SerializedListener<RespT> listener;
    boolean firstAnswer;
    synchronized (lock) {
      firstAnswer = !attempt.answered;
      if (!commitTo(attempt)) {
        return;
      }
      listener = app;
    }
    if (firstAnswer) {
      budget.recordOutcome(attempt.index + 1, RetryBudget.Outcome.SUCCESS);
    }
    listener.onMessage(message);
  }

  private void attemptReady(Attempt attempt) {
    SerializedListener<RespT> listener;
    synchronized (lock) {
      if (closed || attempt != current || !attempt.live) {
        return;
      }
      listener = app;
    }
    listener.onReady();
  }

  /** Commits the call to {@code attempt} (under lock); false if its responses must be dropped. */
  private boolean commitTo(Attempt attempt) {
    if (closed || attempt != current || attempt.cancelled) {
      return false;
    }
    if (committed == null) {
      committed = attempt;
      stopRecording();
      attempt.answered = true;
    }
    return committed == attempt;
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
    int attemptNumber;
    boolean unanswered;
    synchronized (lock) {
      unanswered = !attempt.answered;
      attempt.answered = true;
      attempt.closed = true;
      timer = attempt.timer;
      attempt.timer = null;
      if (closed || attempt != current) {
        finalStatus = null;
        attemptNumber = -1;
      } else {
        current = null;
        attemptNumber = attempt.index + 1;
        if (committed == attempt) {
          finalStatus = attempt.timedOut ? perAttemptTimeoutStatus() : status;
        } else if (cancelStatus != null && cancelledByApplication) {
          finalStatus = cancelStatus;
        } else if (attempt.failure != null || status.isOk() || context.isCancelled()) {
          finalStatus = status;
        }
        if (finalStatus != null) {
          markClosed();
        }
        lastStatus = status;
        lastTrailers = trailers;
      }
    }
    if (timer != null) {
      timer.cancel(false);
    }
    if (attemptNumber < 0) {
      return; // The call already closed, or this attempt was abandoned.
    }
    if (finalStatus != null) {
      if (status.isOk() && unanswered) {
        // An OK with no headers and no message (a trailers-only response).
        budget.recordOutcome(attemptNumber, RetryBudget.Outcome.SUCCESS);
      }
      finishClose(finalStatus, trailers, synthetic);
      return;
    }
    decide(attempt, attemptNumber, status, trailers, synthetic);
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
      } else if (attemptNumber >= policy.maxAttempts()) {
        verdict.stopReason = "maxAttempts (" + policy.maxAttempts() + ") reached";
      } else if (bufferLimitExceeded() != null) {
        verdict.stopReason = bufferLimitExceeded();
      } else {
        planRetry(verdict, hint, now);
      }
    }
    Attempt next = null;
    Status closeWith;
    synchronized (lock) {
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
          backoffTimer =
              config.scheduler.schedule(this::backoffElapsed, verdict.delayNanos, TimeUnit.NANOSECONDS);
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
      int retry;
      long previous;
      synchronized (lock) {
        retry = ++backoffRetry;
        previous = previousBackoffNanos;
      }
      delay =
          Backoff.delayNanos(
              policy.jitter(),
              policy.initialBackoffNanos,
              policy.maxBackoffNanos,
              policy.backoffMultiplier(),
              retry,
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

  private void backoffElapsed() {
    Attempt next;
    Status deadline = null;
    synchronized (lock) {
      if (closed || backoffTimer == null) {
        return;
      }
      backoffTimer = null;
      if (hasDeadline && config.ticker.nanoTime() >= deadlineNanos) {
        deadline = withLastAttempt(Status.DEADLINE_EXCEEDED.withDescription(
            "grpc-retry: the call's deadline passed during backoff"), lastStatus);
        markClosed();
        next = null;
      } else {
        next = newAttempt();
      }
    }
    if (deadline != null) {
      finishClose(deadline, lastTrailersOrEmpty(), true);
    } else {
      startOnCallExecutor(next);
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
    if (contextListener != null || context.getDeadline() == null && !isCancellable(context)) {
      return;
    }
    Context.CancellationListener listener = ctx -> contextCancelled();
    contextListener = listener;
    context.addListener(listener, Runnable::run);
  }

  private static boolean isCancellable(Context ctx) {
    // Only a CancellableContext, or one beneath it, can ever be cancelled; Context.ROOT cannot.
    return ctx != Context.ROOT;
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
      if (backoffTimer != null) {
        backoffTimer.cancel(false);
        backoffTimer = null;
        closeNow = true;
        markClosed();
      }
      // An attempt in flight sees the cancellation itself; a deciding one sees cancelStatus.
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
    log.clear();
    if (backoffTimer != null) {
      backoffTimer.cancel(false);
      backoffTimer = null;
    }
  }

  private void finishClose(Status status, Metadata trailers, boolean viaExecutor) {
    Context.CancellationListener listener;
    synchronized (lock) {
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
