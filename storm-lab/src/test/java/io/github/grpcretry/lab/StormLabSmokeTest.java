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
 * Runs the whole lab, every scenario and set-up against real servers, on a tiny configuration: less
 * than a second per run at a low rate, on a server of one worker so that the shedding scenario
 * sheds. It checks that the pieces fit, that each scenario does what it says at the server, and
 * that the figures are consistent, never how fast anything was: the real demonstration is the full
 * run, which is not a test.
 */
class StormLabSmokeTest {

  private static List<String> tinyRun(Path report, String scenarios) {
    return new ArrayList<>(
        List.of(
            "--duration-seconds", "0.75",
            "--trigger-start-seconds", "0.25",
            "--trigger-seconds", "0.25",
            "--rate", "40",
            "--workers", "1",
            "--queue", "8",
            "--scenario", scenarios,
            "--deadline-ms", "300",
            "--attempt-timeout-ms", "100",
            "--warmup-seconds", "0",
            "--report", report.toString()));
  }

  @Test
  void runsEveryScenarioAndSetupAndReportsConsistentFigures(@TempDir Path dir) throws Exception {
    Path report = dir.resolve("reports").resolve("storm.html");
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    LabOptions options = LabOptions.parse(tinyRun(report, "all").toArray(String[]::new));

    List<SetupResult> results =
        StormLab.run(options, new PrintStream(bytes, true, StandardCharsets.UTF_8));

    assertThat(results).hasSize(Scenario.values().length * Setup.values().length);
    for (Scenario sc : Scenario.values()) {
      for (Setup setup : Setup.values()) {
        assertThat(ResultTable.find(results, sc, setup)).as("%s / %s", sc, setup).isNotNull();
      }
    }
    for (SetupResult r : results) {
      String what = r.scenario() + " / " + r.setup();
      assertThat(r.offered()).as("%s offered", what).isEqualTo(30);
      assertThat(r.unfinished()).as("%s unfinished", what).isZero();
      assertThat(r.succeeded()).isLessThanOrEqualTo(r.offered());
      // Every success is an answer a server gave, and every answer was an attempt.
      assertThat(r.answered()).as("%s answered", what).isGreaterThanOrEqualTo(r.succeeded());
      assertThat(r.serverAttempts()).as("%s attempts", what).isGreaterThanOrEqualTo(r.answered());
      assertThat(r.amplification()).isEqualTo((double) r.serverAttempts() / r.offered());
      long failed = r.failures().values().stream().mapToLong(Long::longValue).sum();
      assertThat(r.succeeded() + failed).as("%s calls", what).isEqualTo(r.offered());
      assertThat(r.rejectedLocally()).isLessThanOrEqualTo((int) failed);
      assertThat(r.sendLagP99Nanos()).as("%s lag", what).isNotNegative();
      if (r.succeeded() > 0) {
        assertThat(r.p50Nanos()).isPositive().isLessThanOrEqualTo(r.p99Nanos());
      }
      assertThat(r.goodputPerSecond()).hasSize(3);
      assertThat(r.attemptsPerSecond()).hasSize(3);
      if (r.scenario().hasTrigger()) {
        assertThat(r.offeredDuringTrigger()).as("%s during", what).isEqualTo(10);
        assertThat(r.serverAttemptsDuringTrigger()).isBetween(0L, r.serverAttempts());
        assertThat(r.recoveryMillis()).isGreaterThanOrEqualTo(-1);
      } else {
        assertThat(r.offeredDuringTrigger()).isEqualTo(r.offered());
        assertThat(r.serverAttemptsDuringTrigger()).isEqualTo(r.serverAttempts());
        assertThat(r.recoveryMillis()).isEqualTo(SetupResult.NO_TRIGGER);
      }
      if (r.setup() == Setup.NO_RETRIES) {
        assertThat(r.serverAttempts()).as("%s attempts", what).isLessThanOrEqualTo(r.offered());
      }
      if (r.setup().isGrpcRetry()) {
        assertThat(r.budget()).as("%s budget", what).isNotNull();
      } else {
        assertThat(r.budget()).isNull();
      }
      switch (r.scenario()) {
        case OUTAGE:
          // Every attempt that reached the server during the trigger failed there at once.
          assertThat(r.failedFast()).as(what).isEqualTo(r.serverAttemptsDuringTrigger());
          assertThat(r.successRateDuringTrigger()).as(what).isLessThan(1.0);
          break;
        case SHEDDING:
          assertThat(r.shed()).as("%s shed", what).isPositive();
          break;
        case LATENCY:
        case SLOW_REPLICA:
        case TRANSIENT:
          assertThat(r.failedFast()).as(what).isZero();
          assertThat(r.shed()).as(what).isZero();
          break;
        case BROWNOUT:
          assertThat(r.shed()).as(what).isZero();
          break;
      }
    }

    String out = bytes.toString(StandardCharsets.UTF_8);
    assertThat(out)
        .contains("Retry-storm lab: scenarios latency, outage, brownout, shedding, slow-replica,")
        .contains("[ 1/42] latency / no-retries: running 0.75 s...")
        .contains("[42/42] transient / grpc-retry-throttling: success ")
        .contains("Success during the trigger:", "Amplification during the trigger")
        .contains("Goodput back after the trigger", "Latency of successes, p99")
        .contains("Breakers in outage:", "grpc-retry-breaker: server saw ")
        .contains("grpc-retry defaults against the best of no-retries and grpc-builtin")
        .contains("What it shows: ")
        .contains("Report: ");
    for (Scenario sc : Scenario.values()) {
      assertThat(out).contains("  " + sc.cliName() + " ");
    }
    // Plain ASCII for -B logs: no escape codes.
    assertThat(out).doesNotContain("\u001b");

    assertThat(report).exists();
    String html = Files.readString(report);
    assertThat(html).startsWith("<!DOCTYPE html>").endsWith("</html>\n");
    // Two charts per scenario, one line per set-up in each.
    assertThat(html.split("<svg ", -1)).hasSize(1 + 2 * Scenario.values().length);
    assertThat(html.split("<polyline ", -1))
        .hasSize(1 + 2 * Scenario.values().length * Setup.values().length);
    assertThat(html).contains("What it shows: ", "trigger: latency, service time x4");
  }

  @Test
  void aFleetOfClientsRunsThroughTheCommandAndExitsWith0(@TempDir Path dir) {
    Path report = dir.resolve("fleet.html");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    List<String> args = tinyRun(report, "outage");
    args.addAll(List.of("--setups", "naive,grpc-retry", "--clients", "3"));

    int status =
        StormLab.execute(
            args.toArray(String[]::new),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));

    assertThat(status).as(err.toString(StandardCharsets.UTF_8)).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8))
        .contains("scenarios outage; set-ups naive, grpc-retry")
        .contains("from 3 clients, each with its own channel, interceptor and budget")
        .contains("[ 2/2] outage / grpc-retry: success ")
        .doesNotContain("/ no-retries");
    assertThat(report).exists();
  }
}
