package io.github.grpcretry;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The timer used by interceptors built without a scheduler: one daemon thread for the whole
 * process, created on first use, which exits after a minute without timers.
 */
final class DefaultScheduler {
  private DefaultScheduler() {}

  static ScheduledExecutorService get() {
    return Holder.INSTANCE;
  }

  private static final class Holder {
    static final ScheduledExecutorService INSTANCE = create();

    private static ScheduledExecutorService create() {
      ScheduledThreadPoolExecutor executor =
          new ScheduledThreadPoolExecutor(
              1,
              r -> {
                Thread t = new Thread(r, "grpc-retry-timer");
                t.setDaemon(true);
                return t;
              });
      // Cancelled backoff and attempt timers are the common case; drop them at once.
      executor.setRemoveOnCancelPolicy(true);
      executor.setKeepAliveTime(1, TimeUnit.MINUTES);
      executor.allowCoreThreadTimeOut(true);
      return executor;
    }
  }
}
