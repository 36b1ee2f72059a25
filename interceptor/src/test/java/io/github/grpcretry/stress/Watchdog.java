package io.github.grpcretry.stress;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Invariant 4, in real time: a thread that wakes every few milliseconds, measures how late it woke
 * (its own scheduling lag: a loaded machine, a GC pause) and how late its probes run ({@link
 * LagProbes}), and checks every live call against its bound. A call with a deadline is late when
 * still unclosed at deadline + 250 ms + the worst lag measured since the deadline; a call without
 * one is hung when unclosed {@code hungAfter} (plus lag) after the application last did something
 * to it. The harness then cancels such calls, and gives up on those that still do not
 * close, so that a broken engine cannot make the run hang.
 *
 * <p>Thread-safe; one thread runs it.
 */
final class Watchdog implements Runnable {
  private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

  private final StressRun run;
  private final StressConfig config;
  private final StressEnvironment env;
  private final Thread thread;
  private final LagMeter lag = new LagMeter();
  private final LagProbes probes;
  private volatile boolean running = true;
  private static final long HEAP_SAMPLE_NANOS = TimeUnit.SECONDS.toNanos(1);
  private long lastHeapSample;
  private volatile long maxHeapBytes;

  Watchdog(StressRun run, StressConfig config, StressEnvironment env) {
    this.run = run;
    this.config = config;
    this.env = env;
    this.probes = new LagProbes(lag, env.probedExecutors(), env.rawChannels());
    this.thread = new Thread(this, "stress-watchdog");
    thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  void stop() throws InterruptedException {
    running = false;
    thread.join(TimeUnit.SECONDS.toMillis(5));
  }

  /** The largest heap left after a collection, sampled once a second: the run's live set. */
  long maxHeapBytes() {
    return maxHeapBytes;
  }

  long maxLagNanos() {
    return lag.worst();
  }

  @Override
  public void run() {
    long expected = System.nanoTime() + TICK_NANOS;
    while (running) {
      long wait = expected - System.nanoTime();
      if (wait > 0) {
        LockSupport.parkNanos(wait);
        continue;
      }
      long now = System.nanoTime();
      lag.record(now, now - expected);
      if (now - lastHeapSample > HEAP_SAMPLE_NANOS) {
        lastHeapSample = now;
        long afterGc = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
          MemoryUsage usage = pool.getCollectionUsage();
          if (pool.getType() == MemoryType.HEAP && usage != null) {
            afterGc += usage.getUsed();
          }
        }
        maxHeapBytes = Math.max(maxHeapBytes, afterGc);
      }
      try {
        probes.tick(now);
        for (CallDriver driver : run.liveDrivers()) {
          watch(driver, now);
        }
      } catch (RuntimeException e) {
        env.harnessError(e);
      }
      expected = System.nanoTime() + TICK_NANOS;
    }
  }

  private void watch(CallDriver driver, long now) {
    CallRecord r = driver.record;
    if (!r.started() || r.isClosed()) {
      return;
    }
    long cancelledAt = r.harnessCancelNanos();
    if (cancelledAt >= 0) {
      if (now > cancelledAt + config.giveUpAfter.toNanos() && r.abandon()) {
        env.figures.count("watchdog", "calls that never closed, even when cancelled");
        run.callAbandoned(driver);
      }
      return;
    }
    if (driver.startFailed()) {
      if (now > r.lastDriveNanos() + config.giveUpAfter.toNanos()) {
        harnessCancel(driver);
      }
      return;
    }
    long deadline = r.deadlineAtNanos();
    long margin = config.lateMargin.toNanos();
    if (deadline != Long.MAX_VALUE) {
      if (now > deadline + margin) {
        long lagSince = lag.worstSince(deadline, now);
        if (now > deadline + margin + lagSince && r.markLate()) {
          env.violations.report(
              Invariant.LATE,
              r,
              "not closed "
                  + EventClock.millis(now - deadline)
                  + " after its deadline (allowed: "
                  + EventClock.millis(margin)
                  + " + the worst lag since the deadline, "
                  + EventClock.millis(lagSince)
                  + ")");
        }
      }
      if (now > deadline + config.lateCancelAfter.toNanos()) {
        harnessCancel(driver);
      }
    } else if (now > r.lastDriveNanos() + config.hungAfter.toNanos()
        && now > r.lastDriveNanos() + config.hungAfter.toNanos() + lag.worstSince(r.lastDriveNanos(), now)
        && r.markHung()) {
      env.violations.report(
          Invariant.HUNG,
          r,
          "no deadline and not closed "
              + EventClock.millis(now - r.lastDriveNanos())
              + " after the application last acted on it");
      harnessCancel(driver);
    }
  }

  private void harnessCancel(CallDriver driver) {
    driver.record.harnessCancelled();
    env.figures.count("watchdog", "calls cancelled by the harness");
    run.releaseSlot(driver);
    driver.onClientThread(() -> driver.cancel(true));
  }
}
