package io.github.grpcretry;

/**
 * How a retry's backoff delay is randomized, so that clients that failed together do not retry
 * together.
 *
 * <p>In the formulas, {@code base} is gRFC A6's exponential delay for retry {@code n},
 * {@code min(initialBackoff * backoffMultiplier^(n-1), maxBackoff)}, and {@code r} is a uniform
 * random draw in {@code [0, 1)}.
 */
public enum Jitter {
  /**
   * gRFC A6 (the default): {@code base * (0.8 + 0.4 * r)}, a uniform factor in [0.8, 1.2]. This is
   * what grpc-java's built-in retry does since 2024; a delay may exceed {@code maxBackoff} by up to
   * 20%.
   */
  A6,
  /** Full jitter: {@code base * r}, anywhere between zero and the exponential delay. */
  FULL,
  /** Equal jitter: {@code base / 2 + base / 2 * r}, at least half of the exponential delay. */
  EQUAL,
  /**
   * Decorrelated jitter: {@code min(maxBackoff, initialBackoff + r * (previous * backoffMultiplier
   * - initialBackoff))}, where {@code previous} is the delay before the last retry (the initial
   * backoff for the first). Each delay grows from the one actually used before it rather than from
   * the retry count.
   */
  DECORRELATED
}
