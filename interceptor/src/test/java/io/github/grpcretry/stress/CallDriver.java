package io.github.grpcretry.stress;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.stress.CallPlan.ClientActions;
import io.github.grpcretry.stress.CallPlan.DeadlineSource;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.Metadata;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The application of one call: starts it as its plan says, sends its messages (at once; or while
 * {@code isReady()}, resuming on each {@code onReady}; or not before the first {@code onReady}),
 * reads (everything up front, or one message at a time from a timer thread with pauses), and
 * cancels it or its Context at the planned moment from another thread.
 *
 * <p>{@code ClientCall} is not thread-safe except for {@code request()}: every other method is
 * called under {@link #appLock}, so the "concurrent" cancel is concurrent with the call's
 * callbacks and with {@code request()}, not with {@code sendMessage}. No callback takes the lock,
 * so a callback that runs inside one of these methods (direct executors) cannot deadlock on it.
 */
final class CallDriver {
  private final StressRun run;
  private final StressEnvironment env;
  final CallPlan plan;
  final CallRecord record;
  private final ClientActions actions;
  private final ReentrantLock appLock = new ReentrantLock();
  private final AtomicInteger pumpWork = new AtomicInteger();
  private Context.@Nullable CancellableContext context;
  // Guarded by appLock.
  private @Nullable ClientCall<Object, Object> call;
  private int sent;
  private boolean halfClosed;
  private boolean cancelled;
  private volatile boolean startFailed;
  private volatile boolean sawReady;

  CallDriver(StressRun run, StressEnvironment env, CallPlan plan, CallRecord record) {
    this.run = run;
    this.env = env;
    this.plan = plan;
    this.record = record;
    this.actions = plan.actions();
  }

  boolean startFailed() {
    return startFailed;
  }

  /** Starts the call; runs on a client thread. */
  void launch() {
    env.attribution.run(record, this::start);
  }

  private void start() {
    long before = env.clock.nanoTime();
    CallOptions options = CallOptions.DEFAULT.withOption(RetryInterceptor.POLICY, plan.policy());
    if (plan.deadlineSource() == DeadlineSource.CALL_OPTIONS) {
      options = options.withDeadlineAfter(plan.deadlineMillis(), TimeUnit.MILLISECONDS);
    }
    if (plan.deadlineSource() == DeadlineSource.CONTEXT) {
      context =
          Context.current().withDeadlineAfter(plan.deadlineMillis(), TimeUnit.MILLISECONDS, env.timer);
    } else if (actions.contextCancelAtMicros() >= 0) {
      context = Context.current().withCancellation();
    }
    Metadata headers = new Metadata();
    headers.put(StressHeaders.CALL_ID, Long.toString(plan.callId()));
    headers.put(StressHeaders.SCRIPT, AttemptScript.encodeAll(plan.scripts()));
    AppListener listener = new AppListener(env.clock, record, this, env.violations, env.figures);
    appLock.lock();
    try {
      Context previous = context != null ? context.attach() : null;
      try {
        call = env.channelFor(plan).newCall(plan.method().descriptor(), options);
        record.appStarting(env.clock.next());
        call.start(listener, headers);
      } catch (RuntimeException e) {
        startFailed = true;
        failed("start", e);
        return;
      } finally {
        if (context != null) {
          context.detach(previous);
        }
      }
      record.appStarted(before);
      if (actions.slowReader()) {
        request(1);
      } else {
        request(actions.upFrontRequest());
      }
      if (actions.sending() == CallPlan.Sending.AT_ONCE) {
        while (sent < actions.requestMessages()) {
          sendNext();
        }
        halfClose();
      }
    } finally {
      appLock.unlock();
    }
    if (actions.sending() == CallPlan.Sending.WHEN_READY) {
      pump();
    }
    if (actions.cancelAtMicros() >= 0) {
      env.later(() -> onClientThread(() -> cancel(false)), actions.cancelAtMicros());
    }
    if (actions.contextCancelAtMicros() >= 0) {
      Context.CancellableContext ctx = context;
      env.later(
          () ->
              env.attribution.run(
                  record,
                  () -> {
                    record.contextCancel(env.clock.next(), "the call's Context is cancelled");
                    ctx.cancel(null);
                  }),
          actions.contextCancelAtMicros());
    }
  }

  /** Under appLock. */
  private void sendNext() {
    Object message = plan.method().request(plan.callId(), sent++);
    record.drove("sendMessage #" + sent);
    try {
      call.sendMessage(message);
    } catch (RuntimeException e) {
      failed("sendMessage", e);
    }
  }

  /** Under appLock. */
  private void halfClose() {
    halfClosed = true;
    record.drove("halfClose()");
    try {
      call.halfClose();
    } catch (RuntimeException e) {
      failed("halfClose", e);
    }
  }

  /** Thread-safe, like ClientCall.request. */
  private void request(int n) {
    record.drove("request(" + n + ")");
    try {
      call.request(n);
    } catch (RuntimeException e) {
      failed("request", e);
    }
  }

  /** Sends while the call is ready; the work-in-progress count makes onReady never get lost. */
  private void pump() {
    if (pumpWork.getAndIncrement() != 0) {
      return;
    }
    onClientThread(
        () -> {
          int missed = 1;
          do {
            pumpOnce();
            missed = pumpWork.addAndGet(-missed);
          } while (missed != 0);
        });
  }

  private void pumpOnce() {
    appLock.lock();
    try {
      if (cancelled || halfClosed || call == null || startFailed) {
        return;
      }
      if (actions.sending() == CallPlan.Sending.AFTER_FIRST_ON_READY && !sawReady) {
        return;
      }
      while (sent < actions.requestMessages()) {
        boolean ready;
        try {
          ready = call.isReady();
        } catch (RuntimeException e) {
          failed("isReady", e);
          return;
        }
        if (!ready) {
          record.event("app: isReady() is false; waits for onReady");
          return;
        }
        sendNext();
      }
      halfClose();
    } finally {
      appLock.unlock();
    }
  }

  /** The application's cancel, or the harness's for a call that does not end. */
  void cancel(boolean byHarness) {
    try {
      if (!appLock.tryLock(1, TimeUnit.SECONDS)) {
        env.violations.report(
            Invariant.CALL_METHOD_FAILED,
            record,
            "a ClientCall method has not returned for 1 s: cannot cancel the call");
        return;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    try {
      if (cancelled || call == null) {
        return;
      }
      cancelled = true;
      if (byHarness) {
        record.event("harness: cancel()");
      } else {
        record.appCancel(env.clock.next());
      }
      call.cancel(byHarness ? "stress: the harness gave up on the call" : "stress: the application cancelled", null);
    } catch (RuntimeException e) {
      failed("cancel", e);
    } finally {
      appLock.unlock();
    }
  }

  void messageArrived() {
    if (actions.slowReader()) {
      long pause = ThreadLocalRandom.current().nextInt(actions.readerPauseMicros() + 1);
      env.later(() -> env.attribution.run(record, () -> request(1)), pause);
    }
  }

  void readyArrived() {
    if (actions.sending() != CallPlan.Sending.AT_ONCE) {
      sawReady = true;
      pump();
    }
  }

  void closed() {
    run.callClosed(this);
  }

  private void failed(String method, RuntimeException e) {
    record.apiFailure(method, e);
    env.violations.report(
        Invariant.CALL_METHOD_FAILED, record, "ClientCall." + method + "() threw " + e);
  }

  /** Runs on a client thread on behalf of this call; dropped once the run shuts down. */
  void onClientThread(Runnable task) {
    try {
      env.clientExecutor.execute(() -> env.attribution.run(record, task));
    } catch (RejectedExecutionException e) {
      // The run is shutting down.
    }
  }
}
