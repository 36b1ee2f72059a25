package io.github.grpcretry.benchmarks;

import io.github.grpcretry.benchmarks.PairedStatistics.Quartiles;
import java.util.ArrayList;
import java.util.List;

/**
 * What a {@link PairedBenchmark} run measured, slice by slice: for each set-up and round, the
 * operations completed, the time they took and the bytes the measuring thread allocated meanwhile.
 *
 * <p>Filled by the run on its one thread, then read; not thread-safe while it is being filled.
 */
final class PairedResult {

  /**
   * One set-up's figures over all rounds.
   *
   * @param setup the set-up
   * @param baseline what it is compared with: its transport's bare channel
   * @param ratio quartiles over rounds of its ops/s divided by the baseline's in the same round
   * @param medianOpsPerSecond median over rounds of its ops/s
   * @param medianBytesPerOp median over rounds of the measuring thread's bytes per operation; NaN
   *     if the JVM does not count them
   * @param bytesPerOpMoreThanBaseline {@code medianBytesPerOp} less the baseline's; NaN if not
   *     counted
   */
  record SetupSummary(
      PairedSetup setup,
      PairedSetup baseline,
      Quartiles ratio,
      double medianOpsPerSecond,
      double medianBytesPerOp,
      double bytesPerOpMoreThanBaseline) {}

  private final List<PairedSetup> setups;
  private final boolean bytesCounted;
  private final long[][] operations;
  private final long[][] nanos;
  private final long[][] bytes;

  /** An empty result for {@code rounds} rounds of {@code setups}. */
  PairedResult(List<PairedSetup> setups, int rounds, boolean bytesCounted) {
    this.setups = List.copyOf(setups);
    this.bytesCounted = bytesCounted;
    this.operations = new long[setups.size()][rounds];
    this.nanos = new long[setups.size()][rounds];
    this.bytes = new long[setups.size()][rounds];
  }

  /** Records the slice of set-up number {@code setup} (in {@link #setups()}) in {@code round}. */
  void record(int setup, int round, long sliceOperations, long sliceNanos, long sliceBytes) {
    operations[setup][round] = sliceOperations;
    nanos[setup][round] = sliceNanos;
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

  /** Operations that {@code setup} completed in each round. */
  long[] operations(PairedSetup setup) {
    return operations[index(setup)].clone();
  }

  /**
   * The figures of every set-up, in {@link #setups()}'s order.
   *
   * @throws IllegalStateException if a slice completed no operation or was not recorded
   */
  List<SetupSummary> summaries() {
    List<SetupSummary> summaries = new ArrayList<>();
    for (PairedSetup setup : setups) {
      int i = index(setup);
      int b = index(setup.baseline());
      checkRecorded(i);
      checkRecorded(b);
      double[] rates = PairedStatistics.perSecond(operations[i], nanos[i]);
      double[] baselineRates = PairedStatistics.perSecond(operations[b], nanos[b]);
      double bytesPerOp = Double.NaN;
      double more = Double.NaN;
      if (bytesCounted) {
        bytesPerOp = PairedStatistics.median(PairedStatistics.perOperation(bytes[i], operations[i]));
        more =
            bytesPerOp
                - PairedStatistics.median(PairedStatistics.perOperation(bytes[b], operations[b]));
      }
      summaries.add(
          new SetupSummary(
              setup,
              setup.baseline(),
              Quartiles.of(PairedStatistics.perRoundRatios(rates, baselineRates)),
              PairedStatistics.median(rates),
              bytesPerOp,
              more));
    }
    return List.copyOf(summaries);
  }

  private void checkRecorded(int setup) {
    for (int round = 0; round < operations[setup].length; round++) {
      if (operations[setup][round] <= 0) {
        throw new IllegalStateException(
            setups.get(setup) + " completed no operation in round " + (round + 1));
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
