package io.github.grpcretry.benchmarks;

import io.github.grpcretry.benchmarks.PairedStatistics.Interval;
import io.github.grpcretry.benchmarks.PairedStatistics.Quartiles;
import java.util.ArrayList;
import java.util.List;

/**
 * What a {@link PairedBenchmark} run measured, slice by slice: for each set-up and round, the
 * operations completed, the wall-clock time they took, and the CPU time the measuring thread used
 * and the bytes it allocated meanwhile.
 *
 * <p>Filled by the run on its one thread, then read; not thread-safe while it is being filled.
 */
final class PairedResult {

  /**
   * One set-up's figures over all rounds. Each ratio is taken round by round against the
   * baseline's figure of the same round.
   *
   * @param setup the set-up
   * @param baseline what it is compared with: its transport's bare channel
   * @param ratio quartiles of its ops/s divided by the baseline's
   * @param ratioMedianInterval a 95% confidence interval of the median of {@code ratio}, by {@link
   *     PairedStatistics#medianConfidenceInterval}; {@link Interval#NONE} for fewer than 6 rounds
   * @param cpuRatio quartiles of its operations per CPU-second of the measuring thread divided by
   *     the baseline's; {@link Quartiles#NOT_MEASURED} if the JVM does not measure CPU time
   * @param medianOpsPerSecond median of its ops/s
   * @param medianCpuShare median of the measuring thread's CPU time per wall-clock time during its
   *     slices: near 1 when the thread had a core to itself in-process; NaN if not measured
   * @param medianBytesPerOp median of the measuring thread's bytes allocated per operation; NaN if
   *     the JVM does not count them
   * @param bytesPerOpMoreThanBaseline {@code medianBytesPerOp} less the baseline's; NaN if not
   *     counted
   */
  record SetupSummary(
      PairedSetup setup,
      PairedSetup baseline,
      Quartiles ratio,
      Interval ratioMedianInterval,
      Quartiles cpuRatio,
      double medianOpsPerSecond,
      double medianCpuShare,
      double medianBytesPerOp,
      double bytesPerOpMoreThanBaseline) {}

  private final List<PairedSetup> setups;
  private final boolean bytesCounted;
  private final boolean cpuCounted;
  private final long[][] operations;
  private final long[][] nanos;
  private final long[][] cpuNanos;
  private final long[][] bytes;

  /** An empty result for {@code rounds} rounds of {@code setups}. */
  PairedResult(List<PairedSetup> setups, int rounds, boolean bytesCounted, boolean cpuCounted) {
    this.setups = List.copyOf(setups);
    this.bytesCounted = bytesCounted;
    this.cpuCounted = cpuCounted;
    this.operations = new long[setups.size()][rounds];
    this.nanos = new long[setups.size()][rounds];
    this.cpuNanos = new long[setups.size()][rounds];
    this.bytes = new long[setups.size()][rounds];
  }

  /** Records the slice of set-up number {@code setup} (in {@link #setups()}) in {@code round}. */
  void record(
      int setup,
      int round,
      long sliceOperations,
      long sliceNanos,
      long sliceCpuNanos,
      long sliceBytes) {
    operations[setup][round] = sliceOperations;
    nanos[setup][round] = sliceNanos;
    cpuNanos[setup][round] = sliceCpuNanos;
    bytes[setup][round] = sliceBytes;
  }

  List<PairedSetup> setups() {
    return setups;
  }

  int rounds() {
    return operations.length == 0 ? 0 : operations[0].length;
  }

  /** Whether the bytes were counted; if not, they are all 0. */
  boolean bytesCounted() {
    return bytesCounted;
  }

  /** Whether the CPU time was measured; if not, it is all 0. */
  boolean cpuCounted() {
    return cpuCounted;
  }

  /** Operations that {@code setup} completed in each round. */
  long[] operations(PairedSetup setup) {
    return operations[index(setup)].clone();
  }

  /**
   * The figures of every set-up, in {@link #setups()}'s order.
   *
   * @throws IllegalStateException if a slice completed no operation, used no CPU time, or was not
   *     recorded
   */
  List<SetupSummary> summaries() {
    List<SetupSummary> summaries = new ArrayList<>();
    for (PairedSetup setup : setups) {
      int i = index(setup);
      int b = index(setup.baseline());
      checkRecorded(i);
      checkRecorded(b);
      double[] rates = PairedStatistics.perSecond(operations[i], nanos[i]);
      double[] ratios =
          PairedStatistics.perRoundRatios(
              rates, PairedStatistics.perSecond(operations[b], nanos[b]));
      Quartiles cpuRatio = Quartiles.NOT_MEASURED;
      double cpuShare = Double.NaN;
      if (cpuCounted) {
        cpuRatio =
            Quartiles.of(
                PairedStatistics.perRoundRatios(
                    PairedStatistics.perSecond(operations[i], cpuNanos[i]),
                    PairedStatistics.perSecond(operations[b], cpuNanos[b])));
        cpuShare = PairedStatistics.median(PairedStatistics.quotients(cpuNanos[i], nanos[i]));
      }
      double bytesPerOp = Double.NaN;
      double more = Double.NaN;
      if (bytesCounted) {
        bytesPerOp = medianBytesPerOp(i);
        more = bytesPerOp - medianBytesPerOp(b);
      }
      summaries.add(
          new SetupSummary(
              setup,
              setup.baseline(),
              Quartiles.of(ratios),
              PairedStatistics.medianConfidenceInterval(ratios),
              cpuRatio,
              PairedStatistics.median(rates),
              cpuShare,
              bytesPerOp,
              more));
    }
    return List.copyOf(summaries);
  }

  private double medianBytesPerOp(int setup) {
    return PairedStatistics.median(PairedStatistics.quotients(bytes[setup], operations[setup]));
  }

  private void checkRecorded(int setup) {
    for (int round = 0; round < operations[setup].length; round++) {
      if (operations[setup][round] <= 0) {
        throw new IllegalStateException(
            setups.get(setup) + " completed no operation in round " + (round + 1));
      }
      if (cpuCounted && cpuNanos[setup][round] <= 0) {
        throw new IllegalStateException(
            setups.get(setup) + " used no CPU time in round " + (round + 1));
      }
    }
  }

  private int index(PairedSetup setup) {
    int i = setups.indexOf(setup);
    if (i < 0) {
      throw new IllegalArgumentException(setup + " was not measured: " + setups);
    }
    return i;
  }
}
