package io.github.grpcretry.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the whole lab, every set-up against a real server, on a tiny configuration: one second per
 * set-up at a low rate. It checks that the pieces fit and the figures are consistent, never how
 * fast anything was: the real demonstration is the full run, which is not a test.
 */
class StormLabSmokeTest {

  private static String[] tinyRun(Path report, String scenario) {
    return new String[] {
      "--duration-seconds", "1",
      "--trigger-start-seconds", "0.25",
      "--trigger-seconds", "0.25",
      "--rate", "40",
      "--scenario", scenario,
      "--deadline-ms", "400",
      "--attempt-timeout-ms", "100",
      "--warmup-seconds", "0",
      "--report", report.toString()
    };
  }

  @Test
  void runsEverySetupAndReportsConsistentFigures(@TempDir Path dir) throws Exception {
    Path report = dir.resolve("reports").resolve("storm.html");
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    LabOptions options = LabOptions.parse(tinyRun(report, "latency"));

    List<SetupResult> results =
        StormLab.run(options, new PrintStream(bytes, true, StandardCharsets.UTF_8));

    assertThat(results)
        .extracting(SetupResult::setup)
        .containsExactly(Setup.NO_RETRIES, Setup.NAIVE, Setup.GRPC_BUILTIN, Setup.GRPC_RETRY);
    for (SetupResult r : results) {
      assertThat(r.offered()).as("%s offered", r.setup()).isEqualTo(40);
      assertThat(r.unfinished()).as("%s unfinished", r.setup()).isZero();
      assertThat(r.completed()).isEqualTo(r.offered());
      assertThat(r.succeeded()).isLessThanOrEqualTo(r.offered());
      // Every success is an answer the server gave, and every answer was an attempt.
      assertThat(r.answered()).as("%s answered", r.setup()).isGreaterThanOrEqualTo(r.succeeded());
      assertThat(r.serverAttempts()).as("%s attempts", r.setup()).isGreaterThanOrEqualTo(r.answered());
      assertThat(r.successRate()).isBetween(0.0, 1.0);
      assertThat(r.successRateBeforeTrigger()).isBetween(0.0, 1.0);
      assertThat(r.amplification()).isEqualTo((double) r.serverAttempts() / r.offered());
      assertThat(r.offeredDuringTrigger()).isEqualTo(10);
      assertThat(r.serverAttemptsDuringTrigger()).isBetween(0L, r.serverAttempts());
      long failed = r.failures().values().stream().mapToLong(Long::longValue).sum();
      assertThat(r.succeeded() + failed).isEqualTo(r.offered());
      if (r.succeeded() > 0) {
        assertThat(r.p50Nanos()).isPositive().isLessThanOrEqualTo(r.p99Nanos());
      }
      assertThat(r.goodputPerSecond()).hasSize(4);
      assertThat(r.attemptsPerSecond()).hasSize(4);
      assertThat(r.recoveryMillis()).isGreaterThanOrEqualTo(-1);
    }
    SetupResult noRetries = results.get(0);
    assertThat(noRetries.serverAttempts()).isLessThanOrEqualTo(noRetries.offered());

    String out = bytes.toString(StandardCharsets.UTF_8);
    assertThat(out)
        .contains("Retry-storm lab, scenario \"latency\"")
        .contains("offered calls", "attempts the server saw", "amplification, during the trigger")
        .contains("success rate", "latency of successes, p50 / p99", "goodput back after the trigger")
        .contains("Summary:")
        .contains("Report: ");
    for (Setup setup : Setup.values()) {
      assertThat(out).contains(setup.label());
    }

    assertThat(report).exists();
    String html = Files.readString(report);
    assertThat(html).startsWith("<!DOCTYPE html>").endsWith("</html>\n");
    assertThat(html.split("<svg ", -1)).hasSize(3);
    // One line per set-up in each of the two charts.
    assertThat(html.split("<polyline ", -1)).hasSize(1 + 2 * Setup.values().length);
    assertThat(html).contains("trigger: service time x4", "attempts per second");
  }

  @Test
  void commandRunsTheOutageScenarioAndExitsWith0(@TempDir Path dir) {
    Path report = dir.resolve("outage.html");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    List<String> args = new ArrayList<>(List.of(tinyRun(report, "outage")));
    args.addAll(List.of("--setups", "naive,grpc-retry"));

    int status =
        StormLab.execute(
            args.toArray(String[]::new),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));

    assertThat(status).as(err.toString(StandardCharsets.UTF_8)).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8))
        .contains("scenario \"outage\"", "naive retries", "grpc-retry defaults")
        .doesNotContain("no retries (");
    assertThat(report).exists();
  }
}
