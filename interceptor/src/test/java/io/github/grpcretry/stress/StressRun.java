package io.github.grpcretry.stress;

import io.github.grpcretry.stress.CallRecord.Snapshot;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * One run: plans and launches the calls with bounded concurrency, retires each a little after its
 * close (checking it, then dropping its record), and checks the run-wide invariants at the end:
 * server attempts ended (5), no bytes left buffered (6), no threads left behind (7). Everything it
 * starts is shut down in the end, whatever happened; every wait is bounded.
 */
final class StressRun {
  private final StressConfig config;
  private final PrintStream out;
  private final ConcurrentHashMap<Long, CallDriver> drivers = new ConcurrentHashMap<>();
  private final LongAdder launched = new LongAdder();
  private final LongAdder retired = new LongAdder();
  private StressEnvironment env;
  private InvariantChecker checker;
  private Semaphore slots;
  private PrintStream progress;

  StressRun(StressConfig config, PrintStream out) {
    this.config = config;
    this.out = out;
  }

  StressReport run() {
    long started = System.nanoTime();
    ThreadCount before = ThreadCount.now();
    progress = ProgressLog.open();
    say(
        "RandomizedStressTest: "
            + config.headline()
            + " concurrency="
            + config.concurrency
            + (config.only >= 0 ? " only=" + config.only : "")
            + "\n  reproduce with: "
            + config.reproduce()
            + "\n  "
            + config.mix);
    LogCapture logs = LogCapture.install();
    env = new StressEnvironment(config, out);
    checker = new InvariantChecker(env.violations, env.figures);
    slots = new Semaphore(config.concurrency);
    Watchdog watchdog = null;
    try {
      env.start();
      env.warmUp();
      watchdog = new Watchdog(this, config, env);
      watchdog.start();
      drive();
      awaitCalls();
      finishLateLooks();
      checkBufferedBytes();
      checkServerAttempts();
    } catch (Throwable t) {
      env.harnessError(t);
    } finally {
      try {
        if (watchdog != null) {
          watchdog.stop();
          env.figures.add("memory", "largest heap after a collection (MiB)", watchdog.maxHeapBytes() >> 20);
          env.figures.add("lag", "worst measured (ms)", watchdog.maxLagNanos() / 1_000_000);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      env.close();
      logs.uninstall();
    }
    checkThreads(before);
    StressReport report =
        new StressReport(
            config,
            env.violations,
            env.figures,
            logs.render(),
            System.nanoTime() - started,
            watchdog == null ? 0 : watchdog.maxLagNanos(),
            launched.sum());
    progress.println(report.render());
    progress.close();
    return report;
  }

  private void drive() throws InterruptedException {
    CallPlanner planner = new CallPlanner(config.seed, config.mix);
    long stall =
        config.hungAfter.plus(config.lateCancelAfter).plus(config.giveUpAfter).toMillis() + 10_000;
    int progressStep = config.calls >= 100_000 ? 10_000 : Math.max(1000, config.calls / 10);
    long t0 = System.nanoTime();
    for (int i = 0; i < config.calls; i++) {
      if (!slots.tryAcquire(stall, TimeUnit.MILLISECONDS)) {
        env.violations.report(
            Invariant.HARNESS,
            null,
            "no call slot freed for " + stall + " ms; stopped launching at call " + i);
        return;
      }
      CallPlan plan = planner.plan(config.only >= 0 ? config.only : i, i + 1L);
      CallRecord record = new CallRecord(plan, env.clock);
      env.registry.register(record);
      CallDriver driver = new CallDriver(this, env, plan, record);
      drivers.put(plan.callId(), driver);
      launched.increment();
      try {
        env.clientExecutor.execute(driver::launch);
      } catch (RejectedExecutionException e) {
        env.harnessError(e);
        return;
      }
      if ((i + 1) % progressStep == 0) {
        say(
            String.format(
                "  progress: %d/%d calls launched, %d live, %d violations, %.1f s",
                i + 1,
                config.calls,
                drivers.size(),
                env.violations.total(),
                (System.nanoTime() - t0) / 1e9));
      }
    }
  }

  /** Waits (bounded) until every launched call has been retired. */
  private void awaitCalls() throws InterruptedException {
    long bound =
        config.hungAfter.plus(config.lateCancelAfter).plus(config.giveUpAfter).toNanos()
            + TimeUnit.SECONDS.toNanos(15);
    long end = System.nanoTime() + bound;
    while (retired.sum() < launched.sum() && System.nanoTime() < end) {
      Thread.sleep(20);
    }
    if (retired.sum() < launched.sum()) {
      List<String> left = new ArrayList<>();
      for (CallDriver d : drivers.values()) {
        if (left.size() < 10) {
          left.add(d.plan.headline());
        }
      }
      env.violations.report(
          Invariant.HARNESS,
          null,
          (launched.sum() - retired.sum())
              + " call(s) neither closed nor given up on by the end, e.g. "
              + left);
    }
  }

  private void checkBufferedBytes() throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
    while (env.bufferedBytes() != 0 && System.nanoTime() < end) {
      Thread.sleep(10);
    }
    long left = env.bufferedBytes();
    if (left != 0) {
      env.violations.report(
          Invariant.BUFFERED_BYTES,
          null,
          "retryInterceptor.bufferedBytes() is "
              + left
              + " after all calls closed or were given up on ("
              + env.figures.get("watchdog", "calls that never closed, even when cancelled")
              + " never closed)");
    }
  }

  private void checkServerAttempts() throws InterruptedException {
    long end = System.nanoTime() + config.serverWait.toNanos();
    while (!env.serverRecorder.open().isEmpty() && System.nanoTime() < end) {
      Thread.sleep(20);
    }
    for (ServerAttempt a : env.serverRecorder.open()) {
      env.violations.report(
          Invariant.SERVER_ATTEMPT_OPEN,
          a.record,
          a
              + " neither completed nor was cancelled "
              + config.serverWait.toSeconds()
              + " s after the last call was done"
              + (a.record == null ? ": " + env.registry.describeRetired(a.callId) : ""));
    }
  }

  private void checkThreads(ThreadCount before) {
    long end = System.nanoTime() + config.threadWait.toNanos();
    ThreadCount now = ThreadCount.now();
    while (now.count() > before.count() + config.threadMargin && System.nanoTime() < end) {
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      now = ThreadCount.now();
    }
    env.figures.add("threads", "before", before.count());
    env.figures.add("threads", "after shutdown", now.count());
    if (now.count() > before.count() + config.threadMargin) {
      env.violations.report(
          Invariant.THREAD_GROWTH,
          null,
          now.count()
              + " live threads "
              + config.threadWait.toSeconds()
              + " s after shutdown, "
              + before.count()
              + " before the run; new: "
              + ThreadCount.newSince(before));
    }
  }

  /** To the test's output, and to the progress log that can be followed while the test runs. */
  private void say(String line) {
    out.println(line);
    progress.println(line);
  }

  // ---------------------------------------------------------------------------------------------
  // The life of a call.

  Iterable<CallDriver> liveDrivers() {
    return drivers.values();
  }

  void releaseSlot(CallDriver driver) {
    if (driver.record.slotReleased.compareAndSet(false, true)) {
      slots.release();
    }
  }

  /** The application's onClose arrived: check the call once late events had time to show. */
  void callClosed(CallDriver driver) {
    releaseSlot(driver);
    schedule(driver, config.settle.toMillis());
  }

  /** The watchdog gave up waiting for onClose. */
  void callAbandoned(CallDriver driver) {
    releaseSlot(driver);
    schedule(driver, 0);
  }

  private void schedule(CallDriver driver, long delayMillis) {
    try {
      env.checker.schedule(() -> retire(driver), delayMillis, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      retire(driver);
    }
  }

  private void retire(CallDriver driver) {
    CallRecord record = driver.record;
    if (!record.retire()) {
      return;
    }
    boolean later = false;
    try {
      checker.check(record);
      later = checker.checkExtras(record, false);
      count(record.plan, record.snapshot());
      if (!later) {
        record.compact();
      }
    } catch (RuntimeException e) {
      env.harnessError(e);
    } finally {
      env.registry.retire(record);
      drivers.remove(record.plan.callId());
      if (later) {
        lookAgain(record);
      }
      retired.increment();
    }
  }

  private final ConcurrentHashMap<CallRecord, Boolean> lateLooks = new ConcurrentHashMap<>();

  /**
   * A report to the breaker or the listener's CallClosed was still missing when the call was
   * checked: look again a second later, or at the end of the run, whichever comes first.
   */
  private void lookAgain(CallRecord record) {
    env.figures.count("watchdog", "calls looked at again for a late breaker report or CallClosed");
    lateLooks.put(record, Boolean.TRUE);
    try {
      env.checker.schedule(() -> lateLook(record), 1, TimeUnit.SECONDS);
    } catch (RejectedExecutionException e) {
      lateLook(record);
    }
  }

  private void lateLook(CallRecord record) {
    if (lateLooks.remove(record) == null) {
      return;
    }
    try {
      checker.checkExtras(record, true);
      record.compact();
    } catch (RuntimeException e) {
      env.harnessError(e);
    }
  }

  /** Runs the late looks still pending, once they have had their second. */
  private void finishLateLooks() throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1500);
    while (!lateLooks.isEmpty() && System.nanoTime() < end) {
      Thread.sleep(20);
    }
    for (CallRecord record : new ArrayList<>(lateLooks.keySet())) {
      lateLook(record);
    }
  }

  private void count(CallPlan plan, Snapshot s) {
    Figures f = env.figures;
    f.count("calls per transport", plan.transport().toString());
    f.count("calls per kind", plan.method().type().toString());
    f.count("calls per transport and kind", plan.transport() + "/" + plan.method().type());
    f.count("calls per method", plan.method().toString());
    f.count("final status", s.closeStatus() == null ? "never closed" : s.closeStatus().getCode().toString());
    f.count("attempts per call (started below the interceptor)", Integer.toString(s.attempts().size()));
    f.count("attempts per call (reached a server)", Integer.toString(s.serverAttempts().size()));
    if (plan.hedged()) {
      f.count("hedging", "hedged calls");
      f.add("hedging", "hedges sent", Math.max(0, s.attempts().size() - 1));
    }
    String policy =
        plan.hedged()
            ? "hedging"
            : plan.policy().maxAttempts() == 1
                    && plan.retryPolicy().perAttemptTimeout() == null
                    && !plan.policy().idempotencyKey()
                    && !plan.needsOwnInterceptor()
                ? "retry, passed through (maxAttempts 1)"
                : plan.retryPolicy().perAttemptTimeout() != null ? "retry with perAttemptTimeout" : "retry";
    f.count("policies", policy);
    f.count("deadlines", plan.deadlineSource().toString());
    CallPlan.Extras x = plan.extras();
    if (x.listener()) {
      f.count("extras", "listeners" + (x.listenerMisbehaviour() == CallPlan.ListenerMisbehaviour.NONE ? "" : ", one " + x.listenerMisbehaviour()));
    }
    if (x.breaker() != CallPlan.BreakerKind.NONE) {
      f.count("extras", "breaker " + x.breaker());
    }
    if (x.idempotencyKey()) {
      f.count("extras", "idempotency key");
    }
    CallPlan.ClientActions a = plan.actions();
    if (s.cancelSeq() >= 0) {
      f.count("client actions", "cancel()");
    }
    if (s.contextCancelSeq() >= 0) {
      f.count("client actions", "Context cancelled");
    }
    if (a.slowReader()) {
      f.count("client actions", "slow reader");
    }
    if (a.sending() != CallPlan.Sending.AT_ONCE) {
      f.count("client actions", "sends " + a.sending());
    }
  }
}
