package io.github.grpcretry.testing;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.NANOSECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Deadline;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class ManualClockTest {
  private static final Duration REAL_TIMEOUT = Duration.ofSeconds(10);

  private final ManualClock clock = ManualClock.create();
  private final ScheduledExecutorService scheduler = clock.scheduler();
  private final List<String> log = Collections.synchronizedList(new ArrayList<>());

  /** Returns a task that logs its name and the clock's time in milliseconds when it runs. */
  private Runnable logging(String name) {
    return () -> log.add(name + "@" + NANOSECONDS.toMillis(clock.nanoTime()));
  }

  @Nested
  class Time {
    @Test
    void startsAtZeroAndMovesOnlyWhenAdvanced() {
      assertThat(clock.nanoTime()).isZero();
      assertThat(clock.ticker().nanoTime()).isZero();

      clock.advance(Duration.ofMillis(1500));

      assertThat(clock.nanoTime()).isEqualTo(1_500_000_000L);
      assertThat(clock.ticker().nanoTime()).isEqualTo(1_500_000_000L);
    }

    @Test
    void tickerIsTheSameInstanceSoDeadlinesCompare() {
      Deadline early = clock.deadlineAfter(Duration.ofSeconds(1));
      Deadline late = clock.deadlineAfter(Duration.ofSeconds(2));

      assertThat(clock.ticker()).isSameAs(clock.ticker());
      assertThat(early.isBefore(late)).isTrue();
    }

    @Test
    void deadlineExpiresExactlyWhenTheClockReachesIt() {
      Deadline deadline = clock.deadlineAfter(Duration.ofSeconds(3));

      clock.advance(Duration.ofSeconds(3).minusNanos(1));
      assertThat(deadline.isExpired()).isFalse();
      assertThat(deadline.timeRemaining(NANOSECONDS)).isEqualTo(1);

      clock.advance(Duration.ofNanos(1));
      assertThat(deadline.isExpired()).isTrue();
    }

    @Test
    void advanceByZeroIsAllowed() {
      clock.advance(Duration.ZERO);

      assertThat(clock.nanoTime()).isZero();
    }

    @Test
    void advanceRejectsNegativeAndNull() {
      assertThatThrownBy(() -> clock.advance(Duration.ofMillis(-1)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("duration must be >= 0: PT-0.001S");
      assertThatThrownBy(() -> clock.advance(null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("duration must not be null");
      assertThat(clock.nanoTime()).isZero();
    }

    @Test
    void hugeAdvanceSaturatesInsteadOfOverflowing() {
      clock.advance(Duration.ofDays(365L * 1000));

      assertThat(clock.nanoTime()).isEqualTo(Long.MAX_VALUE);
    }
  }

  @Nested
  class Ordering {
    @Test
    void runsDueTasksInDueTimeOrderAtTheirDueTimes() {
      scheduler.schedule(logging("c"), 30, MILLISECONDS);
      scheduler.schedule(logging("a"), 10, MILLISECONDS);
      scheduler.schedule(logging("b"), 20, MILLISECONDS);
      scheduler.schedule(logging("late"), 31, MILLISECONDS);

      clock.advance(Duration.ofMillis(30));

      assertThat(log).containsExactly("a@10", "b@20", "c@30");
      assertThat(clock.nanoTime()).isEqualTo(MILLISECONDS.toNanos(30));
      assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(1));
    }

    @Test
    void tiesRunInSchedulingOrder() {
      for (String name : List.of("first", "second", "third")) {
        scheduler.schedule(logging(name), 5, MILLISECONDS);
      }

      clock.advance(Duration.ofMillis(5));

      assertThat(log).containsExactly("first@5", "second@5", "third@5");
    }

    @Test
    void executeAndSubmitRunAtTheNextRunDueTasks() throws Exception {
      scheduler.execute(logging("executed"));
      Future<String> submitted = scheduler.submit(() -> "result");
      assertThat(log).isEmpty();
      assertThat(submitted).isNotDone();

      assertThat(clock.runDueTasks()).isEqualTo(2);

      assertThat(log).containsExactly("executed@0");
      assertThat(submitted.get(0, SECONDS)).isEqualTo("result");
      assertThat(clock.runDueTasks()).isZero();
    }

    @Test
    void negativeDelayCountsAsZero() {
      scheduler.schedule(logging("now"), -5, SECONDS);

      assertThat(clock.pendingDelays()).containsExactly(Duration.ZERO);
      assertThat(clock.runDueTasks()).isEqualTo(1);
      assertThat(log).containsExactly("now@0");
    }

    @Test
    void tasksScheduledByTasksRunIfTheyFallInsideTheWindow() {
      scheduler.schedule(
          () -> {
            log.add("outer@" + NANOSECONDS.toMillis(clock.nanoTime()));
            scheduler.schedule(logging("inner"), 5, MILLISECONDS);
            scheduler.schedule(logging("beyond"), 50, MILLISECONDS);
            scheduler.execute(logging("immediate"));
          },
          10,
          MILLISECONDS);

      clock.advance(Duration.ofMillis(20));

      assertThat(log).containsExactly("outer@10", "immediate@10", "inner@15");
      assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(40));
    }

    @Test
    void advanceToNextTaskMovesToTheEarliestDueTimeAndRunsEverythingDueThen() {
      scheduler.schedule(logging("a"), 7, MILLISECONDS);
      scheduler.schedule(
          () -> {
            log.add("b@" + NANOSECONDS.toMillis(clock.nanoTime()));
            scheduler.execute(logging("chained"));
          },
          7,
          MILLISECONDS);
      scheduler.schedule(logging("later"), 8, MILLISECONDS);

      Duration moved = clock.advanceToNextTask();

      assertThat(moved).isEqualTo(Duration.ofMillis(7));
      assertThat(log).containsExactly("a@7", "b@7", "chained@7");
      assertThat(clock.pendingTaskCount()).isEqualTo(1);
    }

    @Test
    void advanceToNextTaskWithoutTasksFails() {
      assertThatThrownBy(clock::advanceToNextTask)
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("no task is scheduled");
    }

    @Test
    void pendingDelaysAreMeasuredFromNowAndSorted() {
      scheduler.schedule(logging("x"), 300, MILLISECONDS);
      scheduler.schedule(logging("y"), 100, MILLISECONDS);
      clock.advance(Duration.ofMillis(50));

      assertThat(clock.pendingDelays())
          .containsExactly(Duration.ofMillis(50), Duration.ofMillis(250));
      assertThat(clock.pendingTaskCount()).isEqualTo(2);
    }
  }

  @Nested
  class Futures {
    @Test
    void cancelledTaskNeverRunsAndLeavesTheQueue() {
      ScheduledFuture<?> future = scheduler.schedule(logging("cancelled"), 10, MILLISECONDS);

      assertThat(future.cancel(false)).isTrue();
      clock.advance(Duration.ofMillis(20));

      assertThat(log).isEmpty();
      assertThat(clock.pendingTaskCount()).isZero();
      assertThat(future.isCancelled()).isTrue();
      assertThat(future.isDone()).isTrue();
      assertThatThrownBy(future::get).isInstanceOf(CancellationException.class);
    }

    @Test
    void taskCancelledByAnEarlierTaskOfTheSameAdvanceDoesNotRun() {
      ScheduledFuture<?> victim = scheduler.schedule(logging("victim"), 20, MILLISECONDS);
      scheduler.schedule(() -> victim.cancel(false), 10, MILLISECONDS);

      clock.advance(Duration.ofMillis(30));

      assertThat(log).isEmpty();
      assertThat(victim.isCancelled()).isTrue();
    }

    @Test
    void getDelayFollowsTheManualClock() {
      ScheduledFuture<?> future = scheduler.schedule(logging("t"), 2, SECONDS);
      assertThat(future.getDelay(MILLISECONDS)).isEqualTo(2000);

      clock.advance(Duration.ofMillis(1500));

      assertThat(future.getDelay(MILLISECONDS)).isEqualTo(500);
      assertThat(future.isDone()).isFalse();
    }

    @Test
    void callableResultIsAvailableOnceRun() throws Exception {
      ScheduledFuture<Long> future = scheduler.schedule(clock::nanoTime, 4, MILLISECONDS);

      clock.advance(Duration.ofMillis(4));

      assertThat(future.isDone()).isTrue();
      assertThat(future.isCancelled()).isFalse();
      assertThat(future.get()).isEqualTo(MILLISECONDS.toNanos(4));
    }

    @Test
    void futuresOrderByDueTime() {
      ScheduledFuture<?> later = scheduler.schedule(logging("later"), 2, SECONDS);
      ScheduledFuture<?> sooner = scheduler.schedule(logging("sooner"), 1, SECONDS);

      assertThat(sooner.compareTo(later)).isNegative();
      assertThat(later.compareTo(sooner)).isPositive();
    }

    @Test
    void failingTaskFailsItsFutureAndTheAdvanceAfterTheClockIsConsistent() {
      IllegalStateException boom = new IllegalStateException("boom");
      ScheduledFuture<?> failing =
          scheduler.schedule(
              () -> {
                throw boom;
              },
              1,
              SECONDS);
      scheduler.schedule(logging("after"), 2, SECONDS);

      assertThatThrownBy(() -> clock.advance(Duration.ofSeconds(3))).isSameAs(boom);

      assertThat(log).containsExactly("after@2000");
      assertThat(clock.nanoTime()).isEqualTo(SECONDS.toNanos(3));
      assertThatThrownBy(failing::get).isInstanceOf(ExecutionException.class).hasCause(boom);
    }

    @Test
    void checkedExceptionOfACallableIsWrapped() {
      scheduler.schedule(
          () -> {
            throw new java.io.IOException("disk");
          },
          0,
          SECONDS);

      assertThatThrownBy(clock::runDueTasks)
          .isInstanceOf(CompletionException.class)
          .hasRootCauseMessage("disk");
    }

    @Test
    void taskMayNotMoveTime() {
      scheduler.execute(() -> clock.advance(Duration.ofSeconds(1)));

      assertThatThrownBy(clock::runDueTasks)
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("advance was called from a task of this clock");
    }
  }

  @Nested
  class Periodic {
    @Test
    void fixedRateRepeatsEveryPeriodFromTheFirstDueTime() {
      ScheduledFuture<?> future =
          scheduler.scheduleAtFixedRate(logging("tick"), 10, 100, MILLISECONDS);

      clock.advance(Duration.ofMillis(310));

      assertThat(log).containsExactly("tick@10", "tick@110", "tick@210", "tick@310");
      assertThat(future.isDone()).isFalse();
      assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(100));
    }

    @Test
    void fixedDelayRepeatsAfterEachRun() {
      scheduler.scheduleWithFixedDelay(logging("tick"), 0, 40, MILLISECONDS);

      clock.advance(Duration.ofMillis(100));

      assertThat(log).containsExactly("tick@0", "tick@40", "tick@80");
    }

    @Test
    void cancellingAPeriodicTaskStopsIt() {
      ScheduledFuture<?> future = scheduler.scheduleAtFixedRate(logging("tick"), 0, 1, SECONDS);
      clock.advance(Duration.ofSeconds(1));

      future.cancel(false);
      clock.advance(Duration.ofSeconds(5));

      assertThat(log).containsExactly("tick@0", "tick@1000");
      assertThat(clock.pendingTaskCount()).isZero();
    }

    @Test
    void periodicTaskCancellingItselfStops() {
      AtomicReference<ScheduledFuture<?>> self = new AtomicReference<>();
      self.set(
          scheduler.scheduleAtFixedRate(
              () -> {
                log.add("once");
                self.get().cancel(false);
              },
              1,
              1,
              SECONDS));

      clock.advance(Duration.ofSeconds(10));

      assertThat(log).containsExactly("once");
      assertThat(clock.pendingTaskCount()).isZero();
    }

    @Test
    void periodRejectsZero() {
      assertThatThrownBy(() -> scheduler.scheduleAtFixedRate(logging("x"), 0, 0, SECONDS))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("period must be > 0: 0 SECONDS");
      assertThatThrownBy(() -> scheduler.scheduleWithFixedDelay(logging("x"), 0, -1, SECONDS))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("delay must be > 0: -1 SECONDS");
    }
  }

  @Nested
  class Waiting {
    @Test
    void awaitPendingTasksWakesWhenAnotherThreadSchedules() throws Exception {
      Thread scheduling =
          new Thread(
              () -> {
                scheduler.schedule(logging("a"), 1, SECONDS);
                scheduler.schedule(logging("b"), 2, SECONDS);
              });
      scheduling.start();

      assertThat(clock.awaitPendingTasks(2, REAL_TIMEOUT)).isTrue();
      scheduling.join(REAL_TIMEOUT.toMillis());

      clock.advance(Duration.ofSeconds(2));
      assertThat(log).containsExactly("a@1000", "b@2000");
    }

    @Test
    void awaitPendingTasksReturnsFalseOnTimeout() throws Exception {
      scheduler.schedule(logging("only"), 1, SECONDS);

      assertThat(clock.awaitPendingTasks(1, Duration.ZERO)).isTrue();
      assertThat(clock.awaitPendingTasks(2, Duration.ZERO)).isFalse();
    }

    @Test
    void awaitPendingTasksValidatesArguments() {
      assertThatThrownBy(() -> clock.awaitPendingTasks(-1, REAL_TIMEOUT))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("count must be >= 0: -1");
      assertThatThrownBy(() -> clock.awaitPendingTasks(1, Duration.ofSeconds(-1)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("realTimeout must be >= 0: PT-1S");
    }

    @Test
    void tasksScheduledFromManyThreadsAllRunOnce() throws Exception {
      int threads = 8;
      int perThread = 100;
      List<Thread> started = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        Thread thread =
            new Thread(
                () -> {
                  for (int i = 0; i < perThread; i++) {
                    scheduler.schedule(() -> log.add("x"), i % 10, MILLISECONDS);
                  }
                });
        thread.start();
        started.add(thread);
      }

      assertThat(clock.awaitPendingTasks(threads * perThread, REAL_TIMEOUT)).isTrue();
      for (Thread thread : started) {
        thread.join(REAL_TIMEOUT.toMillis());
      }
      clock.advance(Duration.ofMillis(10));

      assertThat(log).hasSize(threads * perThread);
    }
  }

  @Nested
  class Shutdown {
    @Test
    void shutdownRejectsNewTasksButRunsScheduledOneShotTasks() {
      scheduler.schedule(logging("scheduled"), 1, SECONDS);
      ScheduledFuture<?> periodic = scheduler.scheduleAtFixedRate(logging("p"), 1, 1, SECONDS);

      scheduler.shutdown();

      assertThat(scheduler.isShutdown()).isTrue();
      assertThat(periodic.isCancelled()).isTrue();
      assertThatThrownBy(() -> scheduler.execute(logging("new")))
          .isInstanceOf(RejectedExecutionException.class)
          .hasMessage("the ManualClock scheduler has been shut down");
      assertThatThrownBy(() -> scheduler.schedule(logging("new"), 1, SECONDS))
          .isInstanceOf(RejectedExecutionException.class);
      assertThat(scheduler.isTerminated()).isFalse();

      clock.advance(Duration.ofSeconds(1));

      assertThat(log).containsExactly("scheduled@1000");
      assertThat(scheduler.isTerminated()).isTrue();
    }

    @Test
    void shutdownNowReturnsTheTasksThatNeverRan() throws Exception {
      scheduler.schedule(logging("b"), 2, SECONDS);
      scheduler.schedule(logging("a"), 1, SECONDS);

      List<Runnable> neverRan = scheduler.shutdownNow();

      assertThat(neverRan).hasSize(2);
      assertThat(clock.pendingTaskCount()).isZero();
      assertThat(scheduler.isTerminated()).isTrue();
      assertThat(scheduler.awaitTermination(1, TimeUnit.DAYS)).isTrue();
      clock.advance(Duration.ofSeconds(5));
      assertThat(log).isEmpty();
      neverRan.get(0).run();
      assertThat(log).containsExactly("a@5000");
    }

    @Test
    void awaitTerminationReturnsAtOnce() throws Exception {
      scheduler.schedule(logging("pending"), 1, SECONDS);
      assertThat(scheduler.awaitTermination(1, TimeUnit.DAYS)).isFalse();

      scheduler.shutdown();
      assertThat(scheduler.awaitTermination(1, TimeUnit.DAYS)).isFalse();
    }

    @Test
    void blockingBulkMethodsAreUnsupported() {
      AtomicBoolean ran = new AtomicBoolean();
      List<java.util.concurrent.Callable<Boolean>> tasks = List.of(() -> ran.getAndSet(true));

      assertThatThrownBy(() -> scheduler.invokeAll(tasks))
          .isInstanceOf(UnsupportedOperationException.class)
          .hasMessageContaining("advance the clock instead");
      assertThatThrownBy(() -> scheduler.invokeAny(tasks))
          .isInstanceOf(UnsupportedOperationException.class);
      assertThat(ran).isFalse();
    }
  }
}
