package io.github.grpcretry.testing;

import static io.github.grpcretry.testing.Arguments.checkAtLeast;
import static io.github.grpcretry.testing.Arguments.checkNonNegative;
import static io.github.grpcretry.testing.Arguments.checkNotNull;
import static io.github.grpcretry.testing.Arguments.saturatedAdd;
import static io.github.grpcretry.testing.Arguments.saturatedNanos;

import io.grpc.Deadline;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Delayed;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.RunnableScheduledFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * A clock and scheduler that only move when the test says so, for deterministic tests of timeouts,
 * backoff and deadlines.
 *
 * <p>Time starts at 0 nanoseconds and changes only through {@link #advance}, {@link
 * #advanceToNextTask} and {@link #runDueTasks}. Code under test reads it through {@link #ticker()}
 * (for {@link Deadline}s) or {@link #nanoTime()}, and schedules work on {@link #scheduler()}. A
 * scheduled task runs on the thread that moves time, once the clock reaches the task's due time,
 * and while it runs the clock reads exactly that due time. A task that never comes due never runs,
 * so a test sees every timer the code under test arms, and nothing happens behind its back.
 *
 * <p>When a task throws, its future completes exceptionally as usual, and in addition the method
 * that moved time rethrows the first such failure after it has run every due task and set the clock
 * (later failures are attached as suppressed exceptions; a checked exception is wrapped in a {@link
 * CompletionException}). A test tool should not let a failing timer go unnoticed.
 *
 * <p>This class is thread-safe: any thread may read the time and schedule or cancel tasks while
 * another moves time; calls that move time are serialized, and a task must not move time itself.
 */
public final class ManualClock {
  private static final Comparator<ManualTask<?>> DUE_ORDER =
      Comparator.<ManualTask<?>>comparingLong(task -> task.dueNanos)
          .thenComparingLong(task -> task.sequence);

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition queueChanged = lock.newCondition();
  // Serializes the methods that move time; a task calling one of them is a test bug we report.
  private final ReentrantLock timeMover = new ReentrantLock();
  private final PriorityQueue<ManualTask<?>> queue = new PriorityQueue<>(DUE_ORDER); // lock
  private long nextSequence; // guarded by lock
  private int runningTasks; // guarded by lock
  private boolean shutdown; // guarded by lock
  // Written under lock, read without it by the ticker and by getDelay().
  private volatile long nowNanos;

  private final Deadline.Ticker ticker = new ManualTicker();
  private final ScheduledExecutorService scheduler = new ManualScheduler();

  private ManualClock() {}

  /** Returns a new clock that reads 0 nanoseconds and has no scheduled tasks. */
  public static ManualClock create() {
    return new ManualClock();
  }

  /**
   * Returns the ticker that reads this clock, for {@link Deadline#after(long, TimeUnit,
   * Deadline.Ticker)}; always the same instance, since deadlines only compare with deadlines of the
   * same ticker.
   */
  public Deadline.Ticker ticker() {
    return ticker;
  }

  /** Returns the current time in nanoseconds since the clock was created. */
  public long nanoTime() {
    return nowNanos;
  }

  /** Returns a deadline {@code duration} from now on this clock; negative means already expired. */
  public Deadline deadlineAfter(Duration duration) {
    checkNotNull(duration, "duration");
    return Deadline.after(saturatedNanos(duration), TimeUnit.NANOSECONDS, ticker);
  }

  /**
   * Returns the scheduler whose tasks run only when this clock is moved, on the thread that moves
   * it.
   *
   * <p>{@code execute} and {@code submit} schedule with zero delay, so the task runs at the next
   * {@link #runDueTasks} or {@link #advance}. Negative delays count as zero. Fixed-rate tasks are
   * due every {@code period} after the first due time; fixed-delay tasks are due {@code delay}
   * after the previous run (which takes no clock time). {@code shutdown()} rejects new tasks with
   * {@link RejectedExecutionException} and cancels periodic tasks while one-shot tasks already
   * scheduled still run when time moves; {@code shutdownNow()} also removes and returns those.
   * {@code awaitTermination} returns {@link ScheduledExecutorService#isTerminated()} at once,
   * because only the test can make the remaining tasks run. {@code invokeAll} and {@code invokeAny}
   * throw {@link UnsupportedOperationException}: they would block the only thread that could run
   * the tasks.
   */
  public ScheduledExecutorService scheduler() {
    return scheduler;
  }

  /**
   * Moves the clock forward by {@code duration}, running every task that comes due on the way.
   *
   * <p>Tasks run in due-time order, ties in the order they were scheduled, with the clock set to
   * each task's due time while it runs; tasks scheduled by running tasks also run if they come due
   * within the window. Afterwards the clock reads the old time plus {@code duration}.
   *
   * @throws IllegalArgumentException if {@code duration} is negative
   * @throws IllegalStateException if called from a task of this clock
   * @throws RuntimeException the first failure of a task (see the class description)
   */
  public void advance(Duration duration) {
    checkNonNegative(duration, "duration");
    long stepNanos = saturatedNanos(duration);
    enterTimeMover("advance");
    try {
      runTasksUntil(saturatedAdd(nowNanos, stepNanos));
    } finally {
      timeMover.unlock();
    }
  }

  /**
   * Moves the clock to the due time of the earliest pending task and runs every task due then,
   * including tasks those tasks schedule for the same instant.
   *
   * @return how far the clock moved; zero when the earliest task was already due
   * @throws IllegalStateException if no task is scheduled, or if called from a task of this clock
   * @throws RuntimeException the first failure of a task (see the class description)
   */
  public Duration advanceToNextTask() {
    enterTimeMover("advanceToNextTask");
    try {
      long from = nowNanos;
      long target;
      lock.lock();
      try {
        ManualTask<?> next = queue.peek();
        if (next == null) {
          throw new IllegalStateException("no task is scheduled");
        }
        target = Math.max(next.dueNanos, from);
      } finally {
        lock.unlock();
      }
      runTasksUntil(target);
      return Duration.ofNanos(target - from);
    } finally {
      timeMover.unlock();
    }
  }

  /**
   * Runs the tasks that are due now, including zero-delay tasks they schedule, without moving the
   * clock.
   *
   * @return how many tasks ran
   * @throws IllegalStateException if called from a task of this clock
   * @throws RuntimeException the first failure of a task (see the class description)
   */
  public int runDueTasks() {
    enterTimeMover("runDueTasks");
    try {
      return runTasksUntil(nowNanos);
    } finally {
      timeMover.unlock();
    }
  }

  /** Returns how many tasks are scheduled and not yet started; cancelled tasks do not count. */
  public int pendingTaskCount() {
    lock.lock();
    try {
      return queue.size();
    } finally {
      lock.unlock();
    }
  }

  /** Returns how far from now each pending task is due, soonest first; zero for due tasks. */
  public List<Duration> pendingDelays() {
    lock.lock();
    try {
      List<ManualTask<?>> tasks = new ArrayList<>(queue);
      tasks.sort(DUE_ORDER);
      List<Duration> delays = new ArrayList<>(tasks.size());
      for (ManualTask<?> task : tasks) {
        delays.add(Duration.ofNanos(Math.max(0, task.dueNanos - nowNanos)));
      }
      return List.copyOf(delays);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Blocks until at least {@code count} tasks are pending, or {@code realTimeout} of real time has
   * passed.
   *
   * <p>Use it to wait until code running on other threads, such as gRPC callbacks, has armed its
   * timer, before moving time.
   *
   * @return true if {@code count} tasks were pending, false on timeout
   * @throws IllegalArgumentException if {@code count} or {@code realTimeout} is negative
   * @throws InterruptedException if the thread is interrupted while waiting
   */
  public boolean awaitPendingTasks(int count, Duration realTimeout) throws InterruptedException {
    checkAtLeast(count, 0, "count");
    checkNonNegative(realTimeout, "realTimeout");
    long remaining = saturatedNanos(realTimeout);
    lock.lockInterruptibly();
    try {
      while (queue.size() < count) {
        if (remaining <= 0) {
          return false;
        }
        remaining = queueChanged.awaitNanos(remaining);
      }
      return true;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public String toString() {
    return "ManualClock{now="
        + Duration.ofNanos(nowNanos)
        + ", pending="
        + pendingTaskCount()
        + "}";
  }

  private void enterTimeMover(String method) {
    if (timeMover.isHeldByCurrentThread()) {
      throw new IllegalStateException(
          method + " was called from a task of this clock; tasks must not move time");
    }
    timeMover.lock();
  }

  /** Runs due tasks up to {@code target}, then sets the clock to it; caller holds timeMover. */
  private int runTasksUntil(long target) {
    int ran = 0;
    @Nullable Throwable failure = null;
    while (true) {
      ManualTask<?> task;
      lock.lock();
      try {
        task = queue.peek();
        if (task == null || task.dueNanos > target) {
          break;
        }
        queue.poll();
        nowNanos = Math.max(nowNanos, task.dueNanos);
        runningTasks++;
      } finally {
        lock.unlock();
      }
      try {
        task.run();
      } finally {
        lock.lock();
        try {
          runningTasks--;
          queueChanged.signalAll();
        } finally {
          lock.unlock();
        }
      }
      ran++;
      Throwable taskFailure = task.takeFailure();
      if (taskFailure != null) {
        if (failure == null) {
          failure = taskFailure;
        } else {
          failure.addSuppressed(taskFailure);
        }
      }
    }
    lock.lock();
    try {
      nowNanos = Math.max(nowNanos, target);
    } finally {
      lock.unlock();
    }
    if (failure instanceof RuntimeException) {
      throw (RuntimeException) failure;
    }
    if (failure instanceof Error) {
      throw (Error) failure;
    }
    if (failure != null) {
      throw new CompletionException("a ManualClock task threw a checked exception", failure);
    }
    return ran;
  }

  private <V extends @Nullable Object> ManualTask<V> enqueue(ManualTask<V> task, long delayNanos) {
    lock.lock();
    try {
      if (shutdown) {
        throw new RejectedExecutionException("the ManualClock scheduler has been shut down");
      }
      task.dueNanos = saturatedAdd(nowNanos, Math.max(0, delayNanos));
      task.sequence = nextSequence++;
      queue.add(task);
      queueChanged.signalAll();
      return task;
    } finally {
      lock.unlock();
    }
  }

  /** Puts a periodic task back after a run, unless it was cancelled or the scheduler shut down. */
  private void reschedule(ManualTask<?> task) {
    lock.lock();
    try {
      // cancel() removes under this lock after marking the task, so checking here under the lock
      // guarantees that a cancelled task never stays queued.
      if (shutdown || task.isCancelled()) {
        return;
      }
      long base = task.fixedRate ? task.dueNanos : nowNanos;
      task.dueNanos = saturatedAdd(base, task.periodNanos);
      task.sequence = nextSequence++;
      queue.add(task);
      queueChanged.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private void remove(ManualTask<?> task) {
    lock.lock();
    try {
      if (queue.remove(task)) {
        queueChanged.signalAll();
      }
    } finally {
      lock.unlock();
    }
  }

  private final class ManualTicker extends Deadline.Ticker {
    @Override
    public long nanoTime() {
      return nowNanos;
    }
  }

  /** A task on the manual clock; its future behaves like one of a ScheduledThreadPoolExecutor. */
  private final class ManualTask<V extends @Nullable Object> extends FutureTask<V>
      implements RunnableScheduledFuture<V> {
    private final long periodNanos; // 0 for one-shot tasks
    private final boolean fixedRate;
    volatile long dueNanos; // written under lock before the task is queued
    long sequence; // guarded by lock
    private @Nullable Throwable failure; // only touched by the thread running the task

    ManualTask(Callable<V> callable, long periodNanos, boolean fixedRate) {
      super(callable);
      this.periodNanos = periodNanos;
      this.fixedRate = fixedRate;
    }

    ManualTask(Runnable runnable, V result, long periodNanos, boolean fixedRate) {
      super(runnable, result);
      this.periodNanos = periodNanos;
      this.fixedRate = fixedRate;
    }

    @Override
    public boolean isPeriodic() {
      return periodNanos != 0;
    }

    @Override
    public void run() {
      if (!isPeriodic()) {
        super.run();
      } else if (super.runAndReset()) {
        reschedule(this);
      }
    }

    @Override
    protected void setException(Throwable t) {
      failure = t;
      super.setException(t);
    }

    @Nullable Throwable takeFailure() {
      Throwable taken = failure;
      failure = null;
      return taken;
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      boolean cancelled = super.cancel(mayInterruptIfRunning);
      if (cancelled) {
        remove(this);
      }
      return cancelled;
    }

    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(dueNanos - nowNanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public int compareTo(Delayed other) {
      if (other == this) {
        return 0;
      }
      if (other instanceof ManualTask) {
        ManualTask<?> task = (ManualTask<?>) other;
        int byDue = Long.compare(dueNanos, task.dueNanos);
        return byDue != 0 ? byDue : Long.compare(sequence, task.sequence);
      }
      return Long.compare(getDelay(TimeUnit.NANOSECONDS), other.getDelay(TimeUnit.NANOSECONDS));
    }
  }

  private final class ManualScheduler implements ScheduledExecutorService {
    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
      checkNotNull(command, "command");
      checkNotNull(unit, "unit");
      return enqueue(new ManualTask<@Nullable Void>(command, null, 0, false), unit.toNanos(delay));
    }

    @Override
    public <V extends @Nullable Object> ScheduledFuture<V> schedule(
        Callable<V> callable, long delay, TimeUnit unit) {
      checkNotNull(callable, "callable");
      checkNotNull(unit, "unit");
      return enqueue(new ManualTask<>(callable, 0, false), unit.toNanos(delay));
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(
        Runnable command, long initialDelay, long period, TimeUnit unit) {
      return schedulePeriodic(command, initialDelay, period, unit, true);
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(
        Runnable command, long initialDelay, long delay, TimeUnit unit) {
      return schedulePeriodic(command, initialDelay, delay, unit, false);
    }

    private ScheduledFuture<?> schedulePeriodic(
        Runnable command, long initialDelay, long period, TimeUnit unit, boolean fixedRate) {
      checkNotNull(command, "command");
      checkNotNull(unit, "unit");
      if (period <= 0) {
        throw new IllegalArgumentException(
            (fixedRate ? "period" : "delay") + " must be > 0: " + period + " " + unit);
      }
      return enqueue(
          new ManualTask<@Nullable Void>(command, null, unit.toNanos(period), fixedRate),
          unit.toNanos(initialDelay));
    }

    @Override
    public void execute(Runnable command) {
      schedule(command, 0, TimeUnit.NANOSECONDS);
    }

    @Override
    public <T extends @Nullable Object> Future<T> submit(Callable<T> task) {
      return schedule(task, 0, TimeUnit.NANOSECONDS);
    }

    @Override
    public <T extends @Nullable Object> Future<T> submit(Runnable task, T result) {
      checkNotNull(task, "task");
      return enqueue(new ManualTask<>(task, result, 0, false), 0);
    }

    @Override
    public Future<?> submit(Runnable task) {
      return schedule(task, 0, TimeUnit.NANOSECONDS);
    }

    @Override
    public void shutdown() {
      List<ManualTask<?>> periodic = new ArrayList<>();
      lock.lock();
      try {
        shutdown = true;
        for (ManualTask<?> task : queue) {
          if (task.isPeriodic()) {
            periodic.add(task);
          }
        }
        queueChanged.signalAll();
      } finally {
        lock.unlock();
      }
      for (ManualTask<?> task : periodic) {
        task.cancel(false);
      }
    }

    @Override
    public List<Runnable> shutdownNow() {
      lock.lock();
      try {
        shutdown = true;
        List<ManualTask<?>> tasks = new ArrayList<>(queue);
        tasks.sort(DUE_ORDER);
        queue.clear();
        queueChanged.signalAll();
        return new ArrayList<>(tasks);
      } finally {
        lock.unlock();
      }
    }

    @Override
    public boolean isShutdown() {
      lock.lock();
      try {
        return shutdown;
      } finally {
        lock.unlock();
      }
    }

    @Override
    public boolean isTerminated() {
      lock.lock();
      try {
        return shutdown && queue.isEmpty() && runningTasks == 0;
      } finally {
        lock.unlock();
      }
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
      checkNotNull(unit, "unit");
      return isTerminated();
    }

    @Override
    public <T extends @Nullable Object> List<Future<T>> invokeAll(
        Collection<? extends Callable<T>> tasks) {
      throw blockingUnsupported("invokeAll");
    }

    @Override
    public <T extends @Nullable Object> List<Future<T>> invokeAll(
        Collection<? extends Callable<T>> tasks, long timeout, TimeUnit unit) {
      throw blockingUnsupported("invokeAll");
    }

    @Override
    public <T extends @Nullable Object> T invokeAny(Collection<? extends Callable<T>> tasks) {
      throw blockingUnsupported("invokeAny");
    }

    @Override
    public <T extends @Nullable Object> T invokeAny(
        Collection<? extends Callable<T>> tasks, long timeout, TimeUnit unit) {
      throw blockingUnsupported("invokeAny");
    }

    private UnsupportedOperationException blockingUnsupported(String method) {
      return new UnsupportedOperationException(
          method
              + " would block until the tasks finish, but ManualClock tasks run only when the"
              + " test moves time; submit the tasks and advance the clock instead");
    }

    @Override
    public String toString() {
      return "ManualClock.scheduler(" + ManualClock.this + ")";
    }
  }
}
