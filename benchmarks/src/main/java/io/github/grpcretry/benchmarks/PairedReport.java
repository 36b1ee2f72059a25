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
    text.append(
        "\nShare of baseline: each set-up's ops/s divided by its baseline's ops/s in the same round;"
            + " the\nmedian of those per-round ratios, and their 25th to 75th percentile (IQR)."
            + " Per CPU-second: the same\nwith operations per CPU-second of the measuring thread"
            + " (ThreadMXBean.getCurrentThreadCpuTime)\nin place of ops/s, which time the thread"
            + " spent waiting for a core does not move. ops/s: median\nover rounds. Thread CPU /"
            + " wall: median share of the slice during which the measuring thread ran\non a core;"
            + " in-process it is below 1 when something else took the core. B/op: median over"
            + " rounds\nof the bytes the measuring thread allocated per operation"
            + " (ThreadMXBean.getCurrentThreadAllocatedBytes).\nIn-process, with direct executors,"
            + " the measuring thread runs the whole call, server included.\nFor netty-* set-ups"
            + " it is the client's calling thread only: the server and the client's socket\nI/O"
            + " run on Netty's event-loop threads, whose CPU time and allocation are not counted.\n");
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
        "| set-up | baseline | share of baseline (median of per-round ratios) | IQR |"
            + " per CPU-second: share of baseline | IQR | ops/s | thread CPU / wall | B/op |"
            + " B/op more than baseline |\n");
    text.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (SetupSummary s : summaries) {
      text.append(
          String.format(
              Locale.ROOT,
              "| `%s` | `%s` | %s | %s | %s | %s | %s | %s | %s | %s |%n",
              s.setup().name(),
              s.baseline().name(),
              decimal(s.ratio().median(), "%.3f"),
              range(s.ratio()),
              decimal(s.cpuRatio().median(), "%.3f"),
              range(s.cpuRatio()),
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

  private static String range(Quartiles q) {
    return Double.isNaN(q.lower())
        ? NOT_MEASURED
        : String.format(Locale.ROOT, "%.3f–%.3f", q.lower(), q.upper());
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
