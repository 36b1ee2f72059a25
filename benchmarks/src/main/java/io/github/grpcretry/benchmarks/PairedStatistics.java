package io.github.grpcretry.benchmarks;

import java.util.Arrays;

/**
 * The arithmetic of {@link PairedBenchmark}: rates and quotients per round, ratios between two
 * set-ups in the same round, and quartiles over rounds. Pure functions of their arguments, which
 * they never change.
 */
final class PairedStatistics {
  private PairedStatistics() {}

  /** The 25th, 50th and 75th percentiles of a sample. */
  record Quartiles(double lower, double median, double upper) {
    /** What stands for a figure that was not measured. */
    static final Quartiles NOT_MEASURED = new Quartiles(Double.NaN, Double.NaN, Double.NaN);

    /**
     * The quartiles of {@code values}, by {@link #quantile}.
     *
     * @throws IllegalArgumentException if {@code values} is empty or holds NaN
     */
    static Quartiles of(double[] values) {
      double[] sorted = sortedCopy(values);
      return new Quartiles(
          quantileOfSorted(sorted, 0.25),
          quantileOfSorted(sorted, 0.5),
          quantileOfSorted(sorted, 0.75));
    }
  }

  /** A range of values, from {@code lower} to {@code upper}. */
  record Interval(double lower, double upper) {
    /** What stands for an interval that was not measured, or that too few values cannot give. */
    static final Interval NONE = new Interval(Double.NaN, Double.NaN);
  }

  /**
   * A confidence interval of at least 95% for the median that {@code values} estimate, if they are
   * independent draws: the j-th smallest to the j-th largest value, with the largest j for which
   * the chance that fewer than j of n draws fall on one given side of the median, doubled, is at
   * most 5% ({@code 2 P(B <= j - 1) <= 0.05} for B binomial with n trials of probability 1/2).
   * It assumes nothing of the distribution. For 60 values it is the 22nd to the 39th smallest.
   *
   * @return the interval, or {@link Interval#NONE} for fewer than 6 values, which cannot give one
   * @throws IllegalArgumentException if {@code values} is empty or holds NaN
   */
  static Interval medianConfidenceInterval(double[] values) {
    double[] sorted = sortedCopy(values);
    int n = sorted.length;
    double logHalfToTheN = -n * Math.log(2);
    double logChoose = 0; // log C(n, k), from k = 0
    double tail = 0; // P(B <= k)
    int j = 0;
    for (int k = 0; k < n / 2; k++) {
      tail += Math.exp(logChoose + logHalfToTheN);
      if (2 * tail > 0.05) {
        break;
      }
      j = k + 1;
      logChoose += Math.log(n - k) - Math.log(k + 1);
    }
    return j == 0 ? Interval.NONE : new Interval(sorted[j - 1], sorted[n - j]);
  }

  /**
   * The {@code p}-quantile of {@code values}, interpolated linearly between the two nearest
   * ranks: for n sorted values x[0..n-1] it is x[h] at h = (n - 1) p when h is whole, and the
   * straight line between x[floor h] and x[floor h + 1] otherwise (the definition of R's and
   * NumPy's defaults). The median of an even count is so the mean of the two middle values.
   *
   * @throws IllegalArgumentException if {@code values} is empty or holds NaN, or {@code p} is not
   *     from 0 to 1
   */
  static double quantile(double[] values, double p) {
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException("p must be from 0 to 1: " + p);
    }
    return quantileOfSorted(sortedCopy(values), p);
  }

  /** The 0.5-{@linkplain #quantile quantile} of {@code values}. */
  static double median(double[] values) {
    return quantile(values, 0.5);
  }

  /**
   * Operations per second in each round: {@code operations[i] / (nanos[i] / 1e9)}.
   *
   * @throws IllegalArgumentException if the arrays differ in length or a duration is not positive
   */
  static double[] perSecond(long[] operations, long[] nanos) {
    sameLength(operations.length, nanos.length, "operations", "nanos");
    double[] rates = new double[operations.length];
    for (int i = 0; i < rates.length; i++) {
      if (nanos[i] <= 0) {
        throw new IllegalArgumentException("nanos[" + i + "] must be positive: " + nanos[i]);
      }
      rates[i] = operations[i] * 1e9 / nanos[i];
    }
    return rates;
  }

  /**
   * One count divided by another in each round: {@code numerators[i] / denominators[i]}, such as
   * bytes per operation, or CPU time per unit of wall-clock time.
   *
   * @throws IllegalArgumentException if the arrays differ in length or a denominator is not
   *     positive
   */
  static double[] quotients(long[] numerators, long[] denominators) {
    sameLength(numerators.length, denominators.length, "numerators", "denominators");
    double[] quotients = new double[numerators.length];
    for (int i = 0; i < quotients.length; i++) {
      if (denominators[i] <= 0) {
        throw new IllegalArgumentException(
            "denominators[" + i + "] must be positive: " + denominators[i]);
      }
      quotients[i] = (double) numerators[i] / denominators[i];
    }
    return quotients;
  }

  /**
   * The ratio of two set-ups' figures round by round: {@code figures[i] / baseline[i]}, each
   * round's figure against the baseline's of the same round, so that what the machine did in
   * that round weighs on both alike.
   *
   * @throws IllegalArgumentException if the arrays differ in length or a baseline figure is not
   *     positive
   */
  static double[] perRoundRatios(double[] figures, double[] baseline) {
    sameLength(figures.length, baseline.length, "figures", "baseline");
    double[] ratios = new double[figures.length];
    for (int i = 0; i < ratios.length; i++) {
      if (!(baseline[i] > 0)) {
        throw new IllegalArgumentException("baseline[" + i + "] must be positive: " + baseline[i]);
      }
      ratios[i] = figures[i] / baseline[i];
    }
    return ratios;
  }

  private static double quantileOfSorted(double[] sorted, double p) {
    double h = (sorted.length - 1) * p;
    int below = (int) Math.floor(h);
    if (below == sorted.length - 1) {
      return sorted[below];
    }
    return sorted[below] + (h - below) * (sorted[below + 1] - sorted[below]);
  }

  private static double[] sortedCopy(double[] values) {
    if (values.length == 0) {
      throw new IllegalArgumentException("no values: a quantile needs at least one");
    }
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    if (Double.isNaN(sorted[sorted.length - 1])) {
      throw new IllegalArgumentException("values must not be NaN: " + Arrays.toString(values));
    }
    return sorted;
  }

  private static void sameLength(int a, int b, String nameA, String nameB) {
    if (a != b) {
      throw new IllegalArgumentException(
          nameA + " and " + nameB + " must have one value per round: " + a + " and " + b);
    }
  }
}
