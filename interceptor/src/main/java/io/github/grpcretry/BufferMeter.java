package io.github.grpcretry;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts the request bytes that the calls of one interceptor keep for replay, against a limit per
 * call and a limit for all of them together.
 *
 * <p>A reservation is made only if it fits: the total never reads above its limit, not even for
 * an instant. Thread-safe and lock-free.
 */
final class BufferMeter {
  final long perCallLimit;
  final long totalLimit;
  private final AtomicLong total = new AtomicLong();

  BufferMeter(long perCallLimit, long totalLimit) {
    this.perCallLimit = perCallLimit;
    this.totalLimit = totalLimit;
  }

  /** Adds {@code bytes} to the total if the total stays within its limit; returns whether it did. */
  boolean tryReserve(long bytes) {
    while (true) {
      long current = total.get();
      long next = current + bytes;
      if (next > totalLimit || next < 0) {
        return false;
      }
      if (total.compareAndSet(current, next)) {
        return true;
      }
    }
  }

  /** Gives back bytes reserved earlier. */
  void release(long bytes) {
    total.addAndGet(-bytes);
  }

  /** The bytes reserved now. */
  long reserved() {
    return total.get();
  }

  String perCallLimitReason() {
    return "the request buffer limit was exceeded (per-call limit of "
        + perCallLimit
        + " bytes; raise it with RetryInterceptor.Builder.perCallBufferLimit)";
  }

  String totalLimitReason() {
    return "the request buffer limit was exceeded (limit of "
        + totalLimit
        + " bytes for all calls of the interceptor; raise it with"
        + " RetryInterceptor.Builder.totalBufferLimit)";
  }
}
