package io.github.grpcretry.testing;

import java.time.Duration;
import java.util.Objects;

/** Argument checks and duration arithmetic shared by the kit; stateless. */
final class Arguments {
  private Arguments() {}

  /** Returns {@code value} after checking it is not null, naming {@code name} otherwise. */
  static <T> T checkNotNull(T value, String name) {
    return Objects.requireNonNull(value, () -> name + " must not be null");
  }

  /** Checks that {@code duration} is neither null nor negative. */
  static Duration checkNonNegative(Duration duration, String name) {
    checkNotNull(duration, name);
    if (duration.isNegative()) {
      throw new IllegalArgumentException(name + " must be >= 0: " + duration);
    }
    return duration;
  }

  /** Checks that {@code value} is at least {@code min}. */
  static int checkAtLeast(int value, int min, String name) {
    if (value < min) {
      throw new IllegalArgumentException(name + " must be >= " + min + ": " + value);
    }
    return value;
  }

  /** Returns the duration in nanoseconds, clamped to the range of a {@code long}. */
  static long saturatedNanos(Duration duration) {
    try {
      return duration.toNanos();
    } catch (ArithmeticException overflow) {
      return duration.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
  }

  /** Returns {@code a + b}, clamped to the range of a {@code long}. */
  static long saturatedAdd(long a, long b) {
    long sum = a + b;
    // Overflow happened iff both operands have the sign opposite to the sum's.
    if (((a ^ sum) & (b ^ sum)) < 0) {
      return a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
    return sum;
  }
}
