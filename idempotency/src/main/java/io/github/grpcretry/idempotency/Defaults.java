package io.github.grpcretry.idempotency;

import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The executor and timer of interceptors built without one: daemon threads for the whole process,
 * created on first use, which exit after a minute without work.
 */
final class Defaults {
  private Defaults() {}

  static Executor executor() {
    return ExecutorHolder.INSTANCE;
  }

  static ScheduledExecutorService scheduler() {
    return SchedulerHolder.INSTANCE;
  }

  private static final class ExecutorHolder {
    static final Executor INSTANCE = create();

    private static Executor create() {
      AtomicInteger threads = new AtomicInteger();
      // Unbounded like gRPC's own default server executor: handlers resumed here may block.
      return new ThreadPoolExecutor(
          0,
          Integer.MAX_VALUE,
          1,
          TimeUnit.MINUTES,
          new SynchronousQueue<>(),
          r -> {
            Thread t = new Thread(r, "grpc-retry-idempotency-" + threads.incrementAndGet());
            t.setDaemon(true);
            return t;
          });
    }
  }

  private static final class SchedulerHolder {
    static final ScheduledExecutorService INSTANCE = create();

    private static ScheduledExecutorService create() {
      ScheduledThreadPoolExecutor executor =
          new ScheduledThreadPoolExecutor(
              1,
              r -> {
                Thread t = new Thread(r, "grpc-retry-idempotency-timer");
                t.setDaemon(true);
                return t;
              });
      // A grace timer is cancelled whenever its handler finishes in time: the common case.
      executor.setRemoveOnCancelPolicy(true);
      executor.setKeepAliveTime(1, TimeUnit.MINUTES);
      executor.allowCoreThreadTimeOut(true);
      return executor;
    }
  }
}
