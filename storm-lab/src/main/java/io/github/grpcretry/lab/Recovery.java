package io.github.grpcretry.lab;

/**
 * When goodput came back: the first moment after the trigger from which the successes in every
 * bucket stay at or above a share of the offered rate for a while.
 *
 * <p>Pure functions; thread-safe.
 */
final class Recovery {
  /** Width of the buckets that goodput and attempts are counted in. */
  static final long BUCKET_MILLIS = 250;
  /** Goodput counts as back once it reaches this share of the offered rate... */
  static final double SHARE_OF_OFFERED = 0.95;
  /** ...and stays there for this long. */
  static final long HOLD_MILLIS = 1000;

  private Recovery() {}

  /**
   * Returns the index of the first bucket {@code b >= from} such that buckets {@code b} to {@code b
   * + hold - 1} all hold at least {@code threshold} and all lie before {@code end}; -1 if there is
   * none.
   *
   * @throws IllegalArgumentException if {@code hold < 1}
   */
  static int firstSustainedBucket(long[] perBucket, double threshold, int from, int end, int hold) {
    if (hold < 1) {
      throw new IllegalArgumentException("hold must be >= 1: " + hold);
    }
    int limit = Math.min(end, perBucket.length);
    int run = 0;
    for (int b = Math.max(0, from); b < limit; b++) {
      run = perBucket[b] >= threshold ? run + 1 : 0;
      if (run == hold) {
        return b - hold + 1;
      }
    }
    return -1;
  }

  /**
   * Milliseconds from the end of the trigger until goodput is back, as defined above, with buckets
   * of {@link #BUCKET_MILLIS}; -1 if it did not come back within the run.
   *
   * @param successesPerBucket successful calls that ended in each bucket, bucket 0 starting at time
   *     zero
   * @param rate offered calls per second
   */
  static long millisToRecover(long[] successesPerBucket, int rate, long triggerEndMillis) {
    double threshold = SHARE_OF_OFFERED * rate * BUCKET_MILLIS / 1000.0;
    // The first bucket that starts at or after the trigger's end.
    int from = (int) ((triggerEndMillis + BUCKET_MILLIS - 1) / BUCKET_MILLIS);
    int hold = (int) ((HOLD_MILLIS + BUCKET_MILLIS - 1) / BUCKET_MILLIS);
    int bucket =
        firstSustainedBucket(
            successesPerBucket, threshold, from, successesPerBucket.length, hold);
    return bucket < 0 ? -1 : bucket * BUCKET_MILLIS - triggerEndMillis;
  }
}
