package io.github.grpcretry.stress;

import java.util.concurrent.Callable;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * The interceptor's timer: a plain scheduled pool whose tasks run on behalf of the call that
 * scheduled them (see {@link Attribution}), so that user code called from a backoff or hedging
 * timer knows its call.
 *
 * <p>Thread-safe.
 */
final class AttributingScheduler extends ScheduledThreadPoolExecutor {
  private final Attribution attribution;

  AttributingScheduler(int threads, ThreadFactory factory, Attribution attribution) {
    super(threads, factory);
    this.attribution = attribution;
    setRemoveOnCancelPolicy(true);
  }

  @Override
  public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
    return super.schedule(attribution.wrap(command), delay, unit);
  }

  @Override
  public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
    CallRecord record = attribution.current();
    if (record == null) {
      return super.schedule(callable, delay, unit);
    }
    return super.schedule(
        () -> {
          Object[] result = new Object[1];
          Exception[] failure = new Exception[1];
          attribution.run(
              record,
              () -> {
                try {
                  result[0] = callable.call();
                } catch (Exception e) {
                  failure[0] = e;
                }
              });
          if (failure[0] != null) {
            throw failure[0];
          }
          @SuppressWarnings("unchecked")
          V value = (V) result[0];
          return value;
        },
        delay,
        unit);
  }

  @Override
  public ScheduledFuture<?> scheduleAtFixedRate(
      Runnable command, long initialDelay, long period, TimeUnit unit) {
    return super.scheduleAtFixedRate(attribution.wrap(command), initialDelay, period, unit);
  }

  @Override
  public ScheduledFuture<?> scheduleWithFixedDelay(
      Runnable command, long initialDelay, long delay, TimeUnit unit) {
    return super.scheduleWithFixedDelay(attribution.wrap(command), initialDelay, delay, unit);
  }
}
