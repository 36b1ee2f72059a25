package io.github.grpcretry.lab;

import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The retry-storm lab's command: runs every chosen set-up against its own fresh server under the
 * same load and fault schedule, prints a table per set-up and a summary, and writes an HTML report
 * with charts.
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

  /** Runs the lab, prints its tables to {@code out}, writes the report and returns the results. */
  static List<SetupResult> run(LabOptions options, PrintStream out)
      throws IOException, InterruptedException {
    long started = System.nanoTime();
    out.println("Retry-storm lab, scenario \"" + options.scenario().cliName() + "\"");
    out.println(ResultTable.describeRun(options));
    out.println();
    SetupRun.warmUp(options, options.warmupMillis());
    List<SetupResult> results = new ArrayList<>();
    for (Setup setup : options.setups()) {
      SetupResult result = SetupRun.run(setup, options);
      results.add(result);
      out.print(ResultTable.setupTable(result, options));
      out.println();
      out.flush();
    }
    out.printf(
        Locale.ROOT,
        "Summary: %d calls offered per set-up; ampl. = server attempts per call (@trg: during the"
            + " trigger);%n@healthy = success of the calls due before the trigger.%n",
        results.isEmpty() ? 0 : results.get(0).offered());
    out.print(ResultTable.summary(results, options));
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
