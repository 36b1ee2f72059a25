package io.github.grpcretry.benchmarks;

import io.github.grpcretry.benchmarks.PairedResult.SetupSummary;
import io.github.grpcretry.benchmarks.PairedStatistics.Quartiles;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The text a {@link PairedBenchmark} run prints: the machine, the parameters, the command that
 * repeats the run, and the table, in Markdown that pastes into {@code docs/BENCHMARKS.md}.
 *
 * <p>Stateless.
 */
final class PairedReport {
  private static final String NOT_MEASURED = "n/a";

  private static final String NOTES =
      """

      Share of baseline: in each round, the set-up's ops/s divided by its baseline's ops/s in the
      same round; the median of those per-round ratios, and their 25th to 75th percentile (IQR).
      95% CI: a distribution-free confidence interval of that median, from the order of the
      per-round ratios (n/a under 6 rounds). Per CPU-second: the same median and IQR with the
      operations per CPU-second of the measuring thread (ThreadMXBean.getCurrentThreadCpuTime) in
      place of ops/s, which the time the thread spends waiting for a core does not move. ops/s:
      median over rounds. Thread CPU / wall: median share of a slice during which the measuring
      thread ran on a core; in-process it falls below 1 when other work takes the cores. B/op:
      median over rounds of the bytes the measuring thread allocated per operation
      (ThreadMXBean.getCurrentThreadAllocatedBytes).
      In-process, with direct executors, the measuring thread runs the whole call, server
      included. For netty-* set-ups it is the client's calling thread only: the server and the
      client's socket I/O run on Netty's event-loop threads, whose CPU time and allocation are not
      counted.
      """;

  private PairedReport() {}

  /** The whole report of a finished run. */
  static String markdown(
      PairedOptions options,
      MachineFacts facts,
      String loadBefore,
      String loadAfter,
      PairedResult result) {
    StringBuilder text = new StringBuilder();
    text.append('\n');
    text.append(
        String.format(
            Locale.ROOT,
            "Machine: %s cores (`nproc`; the JVM sees %d), CPU model \"%s\" (`/proc/cpuinfo`),"
                + " Java %s (`java.version`; runtime %s), %s (`java.vm.name`).%n",
            facts.nproc(),
            facts.availableProcessors(),
            facts.cpuModel(),
            facts.javaVersion(),
            facts.javaRuntimeVersion(),
            facts.javaVmName()));
    text.append(
        String.format(
            Locale.ROOT,
            "Load average (1, 5, 15 min, `/proc/loadavg`): %s at the start, %s at the end.%n",
            loadBefore,
            loadAfter));
    text.append(
        String.format(
            Locale.ROOT,
            "Parameters: scenario `%s` (%s); %d rounds, each running every set-up once for a"
                + " slice of %d ms in a random order; warm-up %d ms per set-up (%d interleaved"
                + " rounds); seed %d.%n",
            options.scenario().cliName(),
            options.scenario().description(),
            options.rounds(),
            options.sliceMillis(),
            options.warmupMillis(),
            options.warmupRounds(),
            options.seed()));
    text.append("\nCommand:\n\n```\n")
        .append(command(options.arguments()))
        .append("\n```\n");
    if (!facts.jvmArguments().isEmpty()) {
      text.append("\nJVM options: `").append(String.join(" ", facts.jvmArguments())).append("`\n");
    }
    text.append('\n').append(table(result.summaries()));
    text.append(NOTES);
    if (!result.cpuCounted()) {
      text.append("Per CPU-second, thread CPU / wall: not measured, see the run's messages.\n");
    }
    if (!result.bytesCounted()) {
      text.append("B/op: not measured, see the run's messages.\n");
    }
    return text.toString();
  }

  /** The Markdown table, one row per set-up; a figure that was not measured shows as "n/a". */
  static String table(List<SetupSummary> summaries) {
    StringBuilder text = new StringBuilder();
    text.append(
        "| set-up | baseline | share of baseline: median of per-round ratios (IQR) |"
            + " 95% CI of that median | per CPU-second: median (IQR) | ops/s | thread CPU / wall |"
            + " B/op | B/op more than baseline |\n");
    text.append("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (SetupSummary s : summaries) {
      text.append(
          String.format(
              Locale.ROOT,
              "| `%s` | `%s` | %s | %s | %s | %s | %s | %s | %s |%n",
              s.setup().name(),
              s.baseline().name(),
              withRange(s.ratio()),
              range(s.ratioMedianInterval().lower(), s.ratioMedianInterval().upper()),
              withRange(s.cpuRatio()),
              decimal(s.medianOpsPerSecond(), "%,.0f"),
              decimal(s.medianCpuShare(), "%.2f"),
              decimal(s.medianBytesPerOp(), "%,.0f"),
              signed(s.bytesPerOpMoreThanBaseline())));
    }
    return text.toString();
  }

  /** The command line of {@code benchmarks/paired.sh} with these arguments. */
  static String command(List<String> arguments) {
    return "benchmarks/paired.sh "
        + arguments.stream().map(PairedReport::shellWord).collect(Collectors.joining(" "));
  }

  private static String withRange(Quartiles q) {
    return Double.isNaN(q.median())
        ? NOT_MEASURED
        : String.format(Locale.ROOT, "%.3f (%s)", q.median(), range(q.lower(), q.upper()));
  }

  private static String range(double lower, double upper) {
    return Double.isNaN(lower)
        ? NOT_MEASURED
        : String.format(Locale.ROOT, "%.3f–%.3f", lower, upper);
  }

  private static String decimal(double value, String format) {
    return Double.isNaN(value) ? NOT_MEASURED : String.format(Locale.ROOT, format, value);
  }

  private static String signed(double bytes) {
    if (Double.isNaN(bytes)) {
      return NOT_MEASURED;
    }
    long rounded = Math.round(bytes);
    return String.format(Locale.ROOT, rounded > 0 ? "+%,d" : "%,d", rounded);
  }

  private static String shellWord(String word) {
    return word.matches("[A-Za-z0-9_.,=/:+-]+") ? word : "'" + word.replace("'", "'\\''") + "'";
  }
}
