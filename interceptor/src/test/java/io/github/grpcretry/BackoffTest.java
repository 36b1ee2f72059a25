package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The backoff formulas, exactly, with the random draw given. */
class BackoffTest {
  private static final long MS = 1_000_000L;

  @Test
  void exponentialFollowsA6AndCapsAtMaxBackoff() {
    assertThat(Backoff.exponentialNanos(100 * MS, 2_000 * MS, 2.0, 1)).isEqualTo(100 * MS);
    assertThat(Backoff.exponentialNanos(100 * MS, 2_000 * MS, 2.0, 2)).isEqualTo(200 * MS);
    assertThat(Backoff.exponentialNanos(100 * MS, 2_000 * MS, 2.0, 5)).isEqualTo(1_600 * MS);
    assertThat(Backoff.exponentialNanos(100 * MS, 2_000 * MS, 2.0, 6)).isEqualTo(2_000 * MS);
    assertThat(Backoff.exponentialNanos(100 * MS, 2_000 * MS, 1.5, 3)).isEqualTo(225 * MS);
  }

  @Test
  void exponentialStaysFiniteOnVeryLongChains() {
    assertThat(Backoff.exponentialNanos(100 * MS, 2_000 * MS, 10.0, 10_000)).isEqualTo(2_000 * MS);
  }

  @Test
  void multiplierBelowOneShrinksTheDelay() {
    assertThat(Backoff.exponentialNanos(100 * MS, 2_000 * MS, 0.5, 2)).isEqualTo(50 * MS);
  }

  @Test
  void a6JitterIsAUniformFactorBetweenPointEightAndOnePointTwo() {
    assertThat(Backoff.delayNanos(Jitter.A6, 100 * MS, 2_000 * MS, 2.0, 1, 0, 0.0))
        .isEqualTo(80 * MS);
    assertThat(Backoff.delayNanos(Jitter.A6, 100 * MS, 2_000 * MS, 2.0, 1, 0, 0.5))
        .isEqualTo(100 * MS);
    assertThat(Backoff.delayNanos(Jitter.A6, 100 * MS, 2_000 * MS, 2.0, 3, 0, 0.75))
        .isEqualTo(440 * MS);
    // Capped before jitter, as A6 does: the jittered delay may pass maxBackoff by 20%.
    assertThat(Backoff.delayNanos(Jitter.A6, 100 * MS, 2_000 * MS, 2.0, 9, 0, 0.999_999))
        .isBetween(2_399 * MS, 2_400 * MS);
  }

  @Test
  void fullJitterSpansZeroToTheExponentialDelay() {
    assertThat(Backoff.delayNanos(Jitter.FULL, 100 * MS, 2_000 * MS, 2.0, 2, 0, 0.0)).isZero();
    assertThat(Backoff.delayNanos(Jitter.FULL, 100 * MS, 2_000 * MS, 2.0, 2, 0, 0.25))
        .isEqualTo(50 * MS);
  }

  @Test
  void equalJitterKeepsHalfOfTheExponentialDelay() {
    assertThat(Backoff.delayNanos(Jitter.EQUAL, 100 * MS, 2_000 * MS, 2.0, 2, 0, 0.0))
        .isEqualTo(100 * MS);
    assertThat(Backoff.delayNanos(Jitter.EQUAL, 100 * MS, 2_000 * MS, 2.0, 2, 0, 0.5))
        .isEqualTo(150 * MS);
  }

  @Test
  void decorrelatedJitterGrowsFromThePreviousDelay() {
    // First retry: previous is taken as the initial backoff, range [100, 300) with multiplier 3.
    assertThat(Backoff.delayNanos(Jitter.DECORRELATED, 100 * MS, 2_000 * MS, 3.0, 1, 0, 0.0))
        .isEqualTo(100 * MS);
    assertThat(Backoff.delayNanos(Jitter.DECORRELATED, 100 * MS, 2_000 * MS, 3.0, 1, 0, 0.5))
        .isEqualTo(200 * MS);
    // Previous 400 ms: range [100, 1200).
    assertThat(
            Backoff.delayNanos(Jitter.DECORRELATED, 100 * MS, 2_000 * MS, 3.0, 2, 400 * MS, 0.5))
        .isEqualTo(650 * MS);
    // Capped at maxBackoff.
    assertThat(
            Backoff.delayNanos(
                Jitter.DECORRELATED, 100 * MS, 2_000 * MS, 3.0, 5, 1_900 * MS, 0.999))
        .isLessThanOrEqualTo(2_000 * MS);
    // A multiplier that cannot grow the range gives the initial backoff.
    assertThat(Backoff.delayNanos(Jitter.DECORRELATED, 100 * MS, 2_000 * MS, 0.5, 2, 0, 0.7))
        .isEqualTo(100 * MS);
  }

  @Test
  void rejectsDrawsOutsideTheUnitInterval() {
    assertThatThrownBy(() -> Backoff.delayNanos(Jitter.A6, MS, MS, 2.0, 1, 0, 1.0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("random must be in [0, 1): 1.0");
    assertThatThrownBy(() -> Backoff.delayNanos(Jitter.A6, MS, MS, 2.0, 1, 0, Double.NaN))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("NaN");
    assertThatThrownBy(() -> Backoff.exponentialNanos(MS, MS, 2.0, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("retry must be >= 1: 0");
  }
}
