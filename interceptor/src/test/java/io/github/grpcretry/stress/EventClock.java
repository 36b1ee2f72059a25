package io.github.grpcretry.stress;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * One global order of events for the whole run: client code, the attempt recorder below the
 * interceptor and the server all draw from the same counter, so that "attempt 2 started after the
 * application saw headers" is a comparison of two numbers. Real time is kept alongside, for
 * deadlines and for the event logs.
 *
 * <p>Thread-safe.
 */
final class EventClock {
  private final AtomicLong seq = new AtomicLong();
  private final LongSupplier ticker;
  private final long origin;

  /** A clock on real time. */
  EventClock() {
    this(System::nanoTime);
  }

  /** A clock on the given time source, in nanoseconds (the checker's own tests move it by hand). */
  EventClock(LongSupplier ticker) {
    this.ticker = ticker;
    this.origin = ticker.getAsLong();
  }

  /** The next number in the global order. */
  long next() {
    return seq.incrementAndGet();
  }

  long nanoTime() {
    return ticker.getAsLong();
  }

  /** A point in time as milliseconds since the run started, for logs. */
  String format(long nanoTime) {
    return String.format("%.3fms", (nanoTime - origin) / 1e6);
  }

  static String millis(long nanos) {
    return String.format("%.3fms", nanos / 1e6);
  }

  static long micros(long value) {
    return TimeUnit.MICROSECONDS.toNanos(value);
  }
}
