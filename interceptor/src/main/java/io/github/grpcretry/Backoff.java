package io.github.grpcretry;

/**
 * The backoff delay of one retry: pure functions of the policy's parameters, the retry number, the
 * previous delay and a random draw, so that they can be tested exactly.
 *
 * <p>Thread-safe: stateless.
 */
final class Backoff {
  private Backoff() {}

  /**
   * gRFC A6's exponential delay for retry {@code retry} (1 for the first retry), capped at {@code
   * maxNanos}, before jitter.
   */
  static long exponentialNanos(long initialNanos, long maxNanos, double multiplier, int retry) {
    if (retry < 1) {
      throw new IllegalArgumentException("retry must be >= 1: " + retry);
    }
    double delay = initialNanos * Math.pow(multiplier, retry - 1);
    // Math.pow can overflow to infinity on long retry chains; the cap keeps the result finite.
    return delay >= maxNanos ? maxNanos : (long) delay;
  }

  /**
   * The delay before retry {@code retry} (1 for the first retry).
   *
   * @param previousNanos the delay used before the previous retry; only {@link
   *     Jitter#DECORRELATED} reads it, and takes {@code initialNanos} when it is not positive
   * @param random a uniform draw in [0, 1)
   */
  static long delayNanos(
      Jitter jitter,
      long initialNanos,
      long maxNanos,
      double multiplier,
      int retry,
      long previousNanos,
      double random) {
    if (!(random >= 0.0 && random < 1.0)) {
      throw new IllegalArgumentException("random must be in [0, 1): " + random);
    }
    switch (jitter) {
      case A6:
        return scale(exponentialNanos(initialNanos, maxNanos, multiplier, retry), 0.8 + 0.4 * random);
      case FULL:
        return scale(exponentialNanos(initialNanos, maxNanos, multiplier, retry), random);
      case EQUAL:
        long base = exponentialNanos(initialNanos, maxNanos, multiplier, retry);
        return base / 2 + scale(base - base / 2, random);
      case DECORRELATED:
        long previous = previousNanos > 0 ? previousNanos : initialNanos;
        double upper = Math.min((double) maxNanos, previous * multiplier);
        if (upper <= initialNanos) {
          return Math.min(initialNanos, maxNanos);
        }
        return Math.min(maxNanos, initialNanos + (long) ((upper - initialNanos) * random));
    }
    throw new AssertionError(jitter);
  }

  private static long scale(long nanos, double factor) {
    return (long) (nanos * factor);
  }
}
