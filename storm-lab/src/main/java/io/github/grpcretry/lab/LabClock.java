package io.github.grpcretry.lab;

/**
 * Time since the start of one set-up's run, shared by its server and its clients so that both
 * count in the same buckets and agree on when the trigger starts and ends.
 *
 * <p>Real time on purpose: the server's capacity is threads that are busy for real, so the lab
 * cannot run on a manual clock. Immutable and thread-safe.
 */
final class LabClock {
  private final long originNanos;

  private LabClock(long originNanos) {
    this.originNanos = originNanos;
  }

  /** A clock whose time zero is now. */
  static LabClock startingNow() {
    return new LabClock(System.nanoTime());
  }

  /** Nanoseconds since time zero. */
  long elapsedNanos() {
    return System.nanoTime() - originNanos;
  }
}
