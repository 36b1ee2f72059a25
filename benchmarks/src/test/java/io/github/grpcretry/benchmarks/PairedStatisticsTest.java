package io.github.grpcretry.benchmarks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.benchmarks.PairedStatistics.Interval;
import io.github.grpcretry.benchmarks.PairedStatistics.Quartiles;
import org.junit.jupiter.api.Test;

/** The paired mode's arithmetic, on fixed inputs whose answers are worked out by hand. */
class PairedStatisticsTest {

  @Test
  void medianOfAnOddCountIsTheMiddleValue() {
    assertThat(PairedStatistics.median(new double[] {5, 1, 3})).isEqualTo(3.0);
    assertThat(PairedStatistics.median(new double[] {7})).isEqualTo(7.0);
  }

  @Test
  void medianOfAnEvenCountIsTheMeanOfTheTwoMiddleValues() {
    assertThat(PairedStatistics.median(new double[] {4, 1, 3, 2})).isEqualTo(2.5);
  }

  @Test
  void quartilesInterpolateBetweenTheNearestRanks() {
    // n = 4: h = 3p, so the 25th percentile lies 3/4 of the way from 1 to 2.
    assertThat(Quartiles.of(new double[] {4, 3, 2, 1})).isEqualTo(new Quartiles(1.75, 2.5, 3.25));
    // n = 5: h = 4p is whole at the quartiles, which are then values of the sample.
    assertThat(Quartiles.of(new double[] {50, 10, 40, 20, 30}))
        .isEqualTo(new Quartiles(20.0, 30.0, 40.0));
    // n = 6: h = 1.25, 2.5, 3.75.
    assertThat(Quartiles.of(new double[] {0, 10, 20, 30, 40, 100}))
        .isEqualTo(new Quartiles(12.5, 25.0, 37.5));
    assertThat(Quartiles.of(new double[] {2})).isEqualTo(new Quartiles(2.0, 2.0, 2.0));
  }

  @Test
  void quantilesAtTheEndsAreTheExtremes() {
    double[] values = {3, 9, 1};
    assertThat(PairedStatistics.quantile(values, 0)).isEqualTo(1.0);
    assertThat(PairedStatistics.quantile(values, 1)).isEqualTo(9.0);
    assertThat(values).containsExactly(3, 9, 1);
  }

  @Test
  void theMedianConfidenceIntervalRunsBetweenOrderStatistics() {
    // 2 P(B <= j - 1) <= 0.05 for B ~ Binomial(n, 1/2): j = 1 for n = 6 (2/64), 6 for n = 20,
    // 22 for n = 60 (coverage 97.3%).
    assertThat(PairedStatistics.medianConfidenceInterval(new double[] {6, 2, 5, 1, 4, 3}))
        .isEqualTo(new Interval(1.0, 6.0));
    assertThat(PairedStatistics.medianConfidenceInterval(oneTo(20)))
        .isEqualTo(new Interval(6.0, 15.0));
    assertThat(PairedStatistics.medianConfidenceInterval(oneTo(60)))
        .isEqualTo(new Interval(22.0, 39.0));
  }

  @Test
  void fewerThanSixValuesGiveNoConfidenceInterval() {
    assertThat(PairedStatistics.medianConfidenceInterval(oneTo(5))).isEqualTo(Interval.NONE);
    assertThat(PairedStatistics.medianConfidenceInterval(new double[] {1}))
        .isEqualTo(Interval.NONE);
  }

  @Test
  void ratiosPairEachRoundWithTheBaselinesSameRound() {
    double[] setup = {90, 45, 100};
    double[] baseline = {100, 50, 80};

    assertThat(PairedStatistics.perRoundRatios(setup, baseline)).containsExactly(0.9, 0.9, 1.25);
    // The machine halved its speed in round 2; the per-round ratios do not see it, while the
    // ratio of medians would (90 / 80 = 1.125).
    assertThat(PairedStatistics.median(PairedStatistics.perRoundRatios(setup, baseline)))
        .isEqualTo(0.9);
  }

  @Test
  void ratesAndQuotientsAreComputedPerRound() {
    long[] nanos = {150_000_000, 100_000_000};
    assertThat(PairedStatistics.perSecond(new long[] {300, 50}, nanos))
        .containsExactly(2000.0, 500.0);
    assertThat(PairedStatistics.quotients(new long[] {3104_000, 100}, new long[] {1000, 8}))
        .containsExactly(3104.0, 12.5);
  }

  @Test
  void rejectsInputsWithoutAnAnswer() {
    assertThatThrownBy(() -> PairedStatistics.median(new double[0]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("no values: a quantile needs at least one");
    assertThatThrownBy(() -> PairedStatistics.median(new double[] {1, Double.NaN}))
        .hasMessage("values must not be NaN: [1.0, NaN]");
    assertThatThrownBy(() -> PairedStatistics.quantile(new double[] {1}, 1.5))
        .hasMessage("p must be from 0 to 1: 1.5");
    assertThatThrownBy(() -> PairedStatistics.perRoundRatios(new double[] {1, 2}, new double[] {1}))
        .hasMessage("figures and baseline must have one value per round: 2 and 1");
    assertThatThrownBy(() -> PairedStatistics.perRoundRatios(new double[] {1}, new double[] {0}))
        .hasMessage("baseline[0] must be positive: 0.0");
    assertThatThrownBy(() -> PairedStatistics.perSecond(new long[] {1}, new long[] {0}))
        .hasMessage("nanos[0] must be positive: 0");
    assertThatThrownBy(() -> PairedStatistics.quotients(new long[] {1}, new long[] {0}))
        .hasMessage("denominators[0] must be positive: 0");
    assertThatThrownBy(() -> PairedStatistics.quotients(new long[] {1}, new long[] {1, 2}))
        .hasMessage("numerators and denominators must have one value per round: 1 and 2");
  }

  /** 1, 2, ..., n in reverse order, so that the functions must sort them. */
  private static double[] oneTo(int n) {
    double[] values = new double[n];
    for (int i = 0; i < n; i++) {
      values[i] = n - i;
    }
    return values;
  }
}
