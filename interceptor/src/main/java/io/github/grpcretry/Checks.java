package io.github.grpcretry;

import java.time.Duration;
import java.util.Objects;

/** Argument checks shared by the builders, so that every message follows one pattern. */
final class Checks {
  private Checks() {}

  /** Returns {@code value} in nanoseconds, or fails unless it is positive and fits in a long. */
  static long positiveNanos(String name, Duration value) {
    Objects.requireNonNull(value, name);
    if (value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(name + " must be > 0: " + value);
    }
    try {
      return value.toNanos();
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(
          name + " must be at most " + Duration.ofNanos(Long.MAX_VALUE) + ": " + value, e);
    }
  }
}
