package io.github.grpcretry.stress;

import org.jspecify.annotations.Nullable;

/**
 * Which call the current thread is working for, so that user code inside the interceptor (the
 * classifier and the budget, whose API names no call) can misbehave for the calls whose plan says
 * so and log what it did in the right record.
 *
 * <p>The application's driver sets it around every {@code ClientCall} method, the recorder below
 * the interceptor around every callback it forwards, and the interceptor's scheduler carries it
 * from the thread that scheduled a task to the task. Code that runs elsewhere sees no call, and
 * the misbehaving user code then behaves.
 *
 * <p>Thread-safe.
 */
final class Attribution {
  private final ThreadLocal<CallRecord> current = new ThreadLocal<>();

  @Nullable CallRecord current() {
    return current.get();
  }

  /** Runs {@code task} on behalf of {@code record}, restoring what was there before. */
  void run(@Nullable CallRecord record, Runnable task) {
    CallRecord previous = current.get();
    current.set(record);
    try {
      task.run();
    } finally {
      if (previous == null) {
        current.remove();
      } else {
        current.set(previous);
      }
    }
  }

  /** Wraps {@code task} to run on behalf of the call the current thread works for, if any. */
  Runnable wrap(Runnable task) {
    CallRecord record = current.get();
    return record == null ? task : () -> run(record, task);
  }
}
