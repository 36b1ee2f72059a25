package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall.SimpleForwardingClientCall;
import io.grpc.ForwardingClientCallListener.SimpleForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;

/**
 * What the engine regression tests control by hand: a call executor that runs nothing until told, a
 * budget that blocks, server calls the test answers itself, and interceptors placed below the retry
 * interceptor. Real-time waits here are only safety nets that turn a hang into a failure.
 */
final class EngineRegressionKit {
  /** The bound of every real-time wait: long enough never to matter when the engine is right. */
  static final Duration WAIT = Duration.ofSeconds(10);

  /** gRFC A6's header on every attempt after the first. */
  static final Metadata.Key<String> PREVIOUS_ATTEMPTS =
      Metadata.Key.of("grpc-previous-rpc-attempts", Metadata.ASCII_STRING_MARSHALLER);

  private EngineRegressionKit() {}

  /** Waits (real time, bounded) until {@code condition} holds; fails with {@code what} if not. */
  static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime() - end).as("%s within %s", what, WAIT).isNegative();
      Thread.sleep(1);
    }
  }

  /** Whether {@code thrown} or one of its causes is {@code expected}. */
  static boolean causedBy(@Nullable Throwable thrown, Throwable expected) {
    for (Throwable t = thrown; t != null; t = t.getCause()) {
      if (t == expected) {
        return true;
      }
      if (t.getCause() == t) {
        return false;
      }
    }
    return false;
  }

  /** A thread pool of daemon threads, so that a call that hangs never keeps the JVM alive. */
  static ExecutorService daemonThreads(String name) {
    AtomicInteger count = new AtomicInteger();
    return Executors.newCachedThreadPool(
        r -> {
          Thread thread = new Thread(r, name + "-" + count.incrementAndGet());
          thread.setDaemon(true);
          return thread;
        });
  }

  /**
   * A busy call executor: {@code execute} only queues, and the queued tasks run when the test calls
   * {@link #runAll}. Given to a call with {@code CallOptions.withExecutor}, it holds every callback
   * gRPC has for the call, so the transport can have a server's answer while the call has not yet
   * seen it.
   */
  static final class HeldExecutor implements Executor {
    private final ArrayDeque<Runnable> tasks = new ArrayDeque<>();

    @Override
    public synchronized void execute(Runnable task) {
      tasks.add(Objects.requireNonNull(task, "task"));
      notifyAll();
    }

    synchronized int pending() {
      return tasks.size();
    }

    /** Runs the queued tasks on this thread, and those they queue, until none is left. */
    int runAll() {
      int ran = 0;
      while (true) {
        Runnable next;
        synchronized (this) {
          next = tasks.poll();
        }
        if (next == null) {
          return ran;
        }
        next.run();
        ran++;
      }
    }

    /** Waits (real time, at most {@code wait}) until a task is queued. */
    synchronized boolean awaitTask(Duration wait) throws InterruptedException {
      long end = System.nanoTime() + wait.toNanos();
      while (tasks.isEmpty()) {
        long left = end - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        TimeUnit.NANOSECONDS.timedWait(this, left);
      }
      return true;
    }
  }

  /**
   * Runs the held tasks until the listener has its {@code onClose}, moving the manual clock by
   * {@code step} between rounds when a clock is given (so that a backoff the engine wrongly arms is
   * seen through). Fails after {@link #WAIT} of real time.
   */
  static void runUntilClosed(
      HeldExecutor held, RecordingListener<?> listener, @Nullable ManualClock clock, Duration step)
      throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    while (true) {
      held.runAll();
      if (listener.isClosed()) {
        return;
      }
      assertThat(System.nanoTime() - end).as("onClose within %s", WAIT).isNegative();
      if (clock != null) {
        clock.advance(step);
      }
      // Work queued by other threads (the channel's executor, a timer) shows up here.
      held.awaitTask(Duration.ofMillis(5));
    }
  }

  /** Runs the held tasks until {@code count} messages have reached the listener. */
  static void runUntilMessages(HeldExecutor held, RecordingListener<?> listener, int count)
      throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    while (true) {
      held.runAll();
      if (listener.messages().size() >= count) {
        return;
      }
      assertThat(System.nanoTime() - end).as("%d message(s) within %s", count, WAIT).isNegative();
      held.awaitTask(Duration.ofMillis(5));
    }
  }

  /**
   * A budget whose {@code tryAcquire} blocks until {@link #release()}: it lets a test hold an
   * attempt between "the engine decided to send it" and "the engine sent it". Allows everything.
   */
  static final class SlowBudget implements RetryBudget {
    private final CountDownLatch released = new CountDownLatch(1);
    private final AtomicInteger entered = new AtomicInteger();

    @Override
    public boolean tryAcquire(AttemptKind kind) {
      entered.incrementAndGet();
      try {
        // Bounded so that a failing test does not leave threads blocked for ever.
        released.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return true;
    }

    @Override
    public void recordOutcome(int attemptNumber, Outcome outcome) {}

    int entered() {
      return entered.get();
    }

    void release() {
      released.countDown();
    }
  }

  /**
   * A server interceptor that takes over every call of one method: the service never sees them,
   * and the test answers each one through its {@link ServerCall}.
   */
  static final class CapturedCalls implements ServerInterceptor {
    private final String fullMethodName;
    private final List<Captured> calls = new CopyOnWriteArrayList<>();

    CapturedCalls(MethodDescriptor<?, ?> method) {
      this.fullMethodName = method.getFullMethodName();
    }

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
        ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
      if (!call.getMethodDescriptor().getFullMethodName().equals(fullMethodName)) {
        return next.startCall(call, headers);
      }
      Captured captured = new Captured(call);
      calls.add(captured);
      return new ServerCall.Listener<>() {
        @Override
        public void onCancel() {
          captured.cancelled = true;
        }
      };
    }

    int count() {
      return calls.size();
    }

    Captured get(int index) {
      return calls.get(index);
    }

    List<Captured> all() {
      return List.copyOf(calls);
    }

    void awaitCount(int count) throws InterruptedException {
      await(count + " call(s) at the server", () -> calls.size() >= count);
    }
  }

  /** One server call taken over by {@link CapturedCalls}. */
  static final class Captured {
    private final ServerCall<?, ?> call;
    volatile boolean cancelled;
    volatile boolean answered;

    Captured(ServerCall<?, ?> call) {
      this.call = call;
    }

    void sendHeaders() {
      call.sendHeaders(new Metadata());
    }

    @SuppressWarnings("unchecked")
    <RespT> void sendMessage(RespT message) {
      ((ServerCall<?, RespT>) call).sendMessage(message);
    }

    void close(Status status) {
      answered = true;
      call.close(status, new Metadata());
    }

    /** Headers, one message and OK, unless the client has cancelled the call already. */
    <RespT> void answer(RespT message) {
      if (cancelled || answered) {
        return;
      }
      sendHeaders();
      sendMessage(message);
      close(Status.OK);
    }
  }

  /**
   * A client interceptor for below the retry interceptor: counts, per attempt, the {@code onClose}
   * callbacks the retry interceptor has returned from, which tells a test that the engine has
   * finished whatever it does on that thread in reaction to an attempt's end.
   */
  static final class AttemptCloses implements ClientInterceptor {
    private final AtomicInteger returned = new AtomicInteger();

    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
        MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
      return new SimpleForwardingClientCall<>(next.newCall(method, options)) {
        @Override
        public void start(Listener<RespT> listener, Metadata headers) {
          super.start(
              new SimpleForwardingClientCallListener<>(listener) {
                @Override
                public void onClose(Status status, Metadata trailers) {
                  try {
                    super.onClose(status, trailers);
                  } finally {
                    returned.incrementAndGet();
                  }
                }
              },
              headers);
        }
      };
    }

    int returned() {
      return returned.get();
    }
  }

  /**
   * A client interceptor for below the retry interceptor whose calls throw {@code thrown} from
   * {@code start()} on the attempts chosen by {@code onAttempt} (1 for the first attempt, read from
   * the {@code grpc-previous-rpc-attempts} header).
   */
  static ClientInterceptor throwingFromStart(RuntimeException thrown, int onAttempt) {
    return new ClientInterceptor() {
      @Override
      public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
          MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
        return new SimpleForwardingClientCall<>(next.newCall(method, options)) {
          @Override
          public void start(Listener<RespT> listener, Metadata headers) {
            String previous = headers.get(PREVIOUS_ATTEMPTS);
            int attempt = previous == null ? 1 : Integer.parseInt(previous) + 1;
            if (attempt == onAttempt) {
              throw thrown;
            }
            super.start(listener, headers);
          }
        };
      }
    };
  }
}
