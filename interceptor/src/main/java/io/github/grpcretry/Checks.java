package io.github.grpcretry;

import io.grpc.Status;
import java.time.Duration;
import java.util.Collection;
import java.util.EnumSet;
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

  /** A modifiable copy of {@code codes}; unlike {@link EnumSet#copyOf(Collection)}, empty is fine. */
  static EnumSet<Status.Code> enumSetOf(Collection<Status.Code> codes) {
    EnumSet<Status.Code> set = EnumSet.noneOf(Status.Code.class);
    set.addAll(codes);
    return set;
  }

  /**
   * Copies status codes given to a setter named {@code name}, rejecting a null collection or
   * element and OK, which no policy may list.
   */
  static EnumSet<Status.Code> statusCodes(String name, Collection<Status.Code> codes) {
    Objects.requireNonNull(codes, name);
    EnumSet<Status.Code> set = EnumSet.noneOf(Status.Code.class);
    for (Status.Code code : codes) {
      set.add(Objects.requireNonNull(code, name + " element"));
    }
    if (set.contains(Status.Code.OK)) {
      throw new IllegalArgumentException(name + " must not contain OK: " + set);
    }
    return set;
  }

  /** Returns {@code maxAttempts}, or fails unless it counts at least the first attempt. */
  static int maxAttempts(int maxAttempts) {
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("maxAttempts must be >= 1: " + maxAttempts);
    }
    return maxAttempts;
  }
}
