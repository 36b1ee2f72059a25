package io.github.grpcretry.lab;

import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The retry-storm lab's command: runs every chosen set-up in every chosen scenario against its
 * own fresh servers under the same load and fault schedule, prints one summary matrix, and writes
 * an HTML report with charts.
 *
 * <p>{@code mvn -q -B -pl storm-lab -am -DskipTests package exec:java} runs it with the defaults;
 * {@code -Dexec.args="--help"} lists the options.
 */
public final class StormLab {
  /** Where the report goes when {@code --report} is not given, if Maven does not say. */
  private static final String REPORT_PROPERTY = "storm-lab.report";

  private StormLab() {}

  public static void main(String[] args) {
    int status = execute(args, System.out, System.err);
    if (status != 0) {
      System.exit(status);
    }
  }

  /**
   * Runs the command and returns its exit status: 0 after a run or {@code --help}, 2 for bad
   * options (with the reason on {@code err}), 1 if the run failed.
   */
  static int execute(String[] args, PrintStream out, PrintStream err) {
    if (LabOptions.asksForHelp(args)) {
      out.print(LabOptions.usage());
      return 0;
    }
    LabOptions options;
    try {
      options = LabOptions.parse(args);
    } catch (IllegalArgumentException e) {
      err.println("storm-lab: " + e.getMessage());
      err.println("storm-lab: run with --help to see the options.");
      return 2;
    }
    try {
      run(options, out);
      return 0;
    } catch (IOException | StatusRuntimeException e) {
      // StatusRuntimeException: the set-up's first call, which opens the connection, failed.
      err.println("storm-lab: the run failed: " + e);
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      err.println("storm-lab: interrupted");
      return 1;
    }
  }

  /**
   * Runs the lab: every chosen set-up in every chosen scenario, one after another, with a progress
   * line at least every few seconds; then prints the summary matrix to {@code out}, writes the
   * report and returns the results.
   */
  static List<SetupResult> run(LabOptions options, PrintStream out)
      throws IOException, InterruptedException {
    long started = System.nanoTime();
    out.println(
        "Retry-storm lab: scenarios "
            + options.scenarios().stream().map(Scenario::cliName).collect(Collectors.joining(", "))
            + "; set-ups "
            + options.setups().stream().map(Setup::cliName).collect(Collectors.joining(", ")));
    out.println(ResultTable.describeRun(options));
    out.println();
    if (options.warmupMillis() > 0) {
      out.printf(
          Locale.ROOT,
          "Warming up for %s s...%n",
          LabOptions.secondsText(options.warmupMillis()));
      out.flush();
    }
    SetupRun.warmUp(options, options.warmupMillis());
    List<SetupResult> results = new ArrayList<>();
    int total = options.scenarios().size() * options.setups().size();
    int index = 0;
    for (Scenario scenario : options.scenarios()) {
      for (Setup setup : options.setups()) {
        index++;
        out.println(ResultTable.started(index, total, scenario, setup, options));
        out.flush();
        SetupResult result =
            SetupRun.run(
                scenario,
                setup,
                options,
                (elapsed, sent, succeeded) -> {
                  out.println(ResultTable.progress(elapsed, sent, succeeded));
                  out.flush();
                });
        results.add(result);
        out.println(ResultTable.finished(index, total, result, options));
        out.flush();
      }
    }
    out.println();
    out.print(ResultTable.matrix(results, options));
    Path report = reportPath(options);
    HtmlReport.write(report, options, results);
    out.println();
    out.println("Report: " + displayPath(report));
    out.printf(
        Locale.ROOT, "Lab run took %.1f s.%n", (System.nanoTime() - started) / 1e9);
    return results;
  }

  private static Path reportPath(LabOptions options) {
    Path given = options.report();
    if (given != null) {
      return given;
    }
    String fromBuild = System.getProperty(REPORT_PROPERTY);
    return fromBuild != null && !fromBuild.isBlank()
        ? Path.of(fromBuild)
        : Path.of("target", "storm-report.html");
  }

  /** The path relative to the working directory when it is below it, else as it is. */
  private static String displayPath(Path path) {
    Path here = Path.of("").toAbsolutePath();
    Path absolute = path.toAbsolutePath().normalize();
    return absolute.startsWith(here) ? here.relativize(absolute).toString() : absolute.toString();
  }
}
