package io.github.grpcretry.benchmarks;

import io.github.grpcretry.benchmarks.PairedResult.SetupSummary;
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
    text.append('\n').append(table(result.summaries(), result.bytesCounted()));
    text.append(
        "\nShare of baseline: each set-up's ops/s divided by its baseline's ops/s in the same"
            + " round; the median\nof those per-round ratios, and their 25th to 75th percentile"
            + " (IQR). ops/s: median over rounds.\nB/op: median over rounds of the bytes the"
            + " measuring thread allocated per operation\n(ThreadMXBean.getCurrentThreadAllocatedBytes)."
            + " In-process, with direct executors, that is the\nwhole call, server included."
            + " For netty-* set-ups it is the client's calling thread only: the\nserver and the"
            + " client's socket I/O run on Netty's event-loop threads, which are not counted.\n");
    if (!result.bytesCounted()) {
      text.append("B/op: not measured, this JVM does not count a thread's allocation.\n");
    }
    return text.toString();
  }

  /** The Markdown table, one row per set-up. */
  static String table(List<SetupSummary> summaries, boolean bytesCounted) {
    StringBuilder text = new StringBuilder();
    text.append(
        "| set-up | baseline | share of baseline (median of per-round ratios) | IQR | ops/s |"
            + " B/op | B/op more than baseline |\n");
    text.append("|---|---|---:|---:|---:|---:|---:|\n");
    for (SetupSummary s : summaries) {
      text.append(
          String.format(
              Locale.ROOT,
              "| `%s` | `%s` | %.3f | %.3f–%.3f | %,.0f | %s | %s |%n",
              s.setup().name(),
              s.baseline().name(),
              s.ratio().median(),
              s.ratio().lower(),
              s.ratio().upper(),
              s.medianOpsPerSecond(),
              bytesCounted ? String.format(Locale.ROOT, "%,.0f", s.medianBytesPerOp()) : "n/a",
              bytesCounted ? signed(s.bytesPerOpMoreThanBaseline()) : "n/a"));
    }
    return text.toString();
  }

  /** The command line of {@code benchmarks/paired.sh} with these arguments. */
  static String command(List<String> arguments) {
    return "benchmarks/paired.sh "
        + arguments.stream().map(PairedReport::shellWord).collect(Collectors.joining(" "));
  }

  private static String signed(double bytes) {
    long rounded = Math.round(bytes);
    return String.format(Locale.ROOT, rounded > 0 ? "+%,d" : "%,d", rounded);
  }

  private static String shellWord(String word) {
    return word.matches("[A-Za-z0-9_.,=/:+-]+") ? word : "'" + word.replace("'", "'\\''") + "'";
  }
}
