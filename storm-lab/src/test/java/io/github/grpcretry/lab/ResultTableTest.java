package io.github.grpcretry.lab;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The matrix's comparisons and sentences, on results made up by hand: no server, no clock. */
class ResultTableTest {
  private static final LabOptions OPTIONS =
      LabOptions.parse(
          "--scenario", "latency,transient",
          "--setups", "no-retries,grpc-builtin,grpc-retry,naive",
          "--duration-seconds", "1",
          "--trigger-start-seconds", "0.25",
          "--trigger-seconds", "0.5",
          "--rate", "100");

  /**
   * A run of 100 calls at 100 calls/s in which {@code failedInTrigger} of the 50 calls due during
   * the trigger fail, every call is sent {@code lagMillis} late, and the server saw {@code
   * attemptsInTrigger} attempts during the trigger.
   */
  private static SetupResult result(
      Scenario scenario, Setup setup, int failedInTrigger, long attemptsInTrigger, long lagMillis) {
    CallLog log = new CallLog(100, 100);
    for (int i = 0; i < 100; i++) {
      long due = log.scheduledNanos(i);
      log.sent(i, due + lagMillis * 1_000_000);
      boolean inTrigger = i >= 25 && i < 75;
      Status status =
          inTrigger && i - 25 < failedInTrigger
              ? Status.DEADLINE_EXCEEDED
              : Status.OK;
      log.record(i, status, due + 5_000_000);
    }
    LabServer.ServerCounts server =
        new LabServer.ServerCounts(
            100 + attemptsInTrigger - 50, attemptsInTrigger, 0, 0, 0, 0, 100, 0, new long[4]);
    return SetupResult.of(scenario, setup, OPTIONS, log, server, 4, null);
  }

  @Test
  void comparesGrpcRetryWithTheBetterOfNoRetriesAndGrpcBuiltin() {
    List<SetupResult> results =
        List.of(
            result(Scenario.LATENCY, Setup.NO_RETRIES, 10, 50, 0), // 80%
            result(Scenario.LATENCY, Setup.GRPC_BUILTIN, 5, 51, 0), // 90%
            result(Scenario.LATENCY, Setup.GRPC_RETRY, 7, 52, 0), // 86%
            result(Scenario.LATENCY, Setup.NAIVE, 0, 200, 0), // 100%, not a baseline
            result(Scenario.TRANSIENT, Setup.NO_RETRIES, 2, 50, 0),
            result(Scenario.TRANSIENT, Setup.GRPC_BUILTIN, 0, 50, 0),
            result(Scenario.TRANSIENT, Setup.GRPC_RETRY, 0, 50, 0));

    List<String> lines = ResultTable.comparisons(results, OPTIONS);

    assertThat(lines).hasSize(2);
    assertThat(lines.get(0))
        .startsWith("latency:      86.0% against 90.0% (grpc-builtin): -4.0 points, worse;");
    assertThat(lines.get(1))
        .startsWith("transient:    100.0% against 100.0% (grpc-builtin): +0.0 points, as good");
    assertThat(ResultTable.whatItShows(results, OPTIONS))
        .startsWith(
            "What it shows: grpc-retry's defaults were at least as successful as the better of"
                + " no retries and grpc-java's own retry (within 0.5 points) in 1 of 2 scenarios"
                + " (not in latency).")
        .contains("Naive retries multiplied the load during a trigger by up to 4.00;"
            + " grpc-retry's budget kept it at or below 1.04.");
  }

  @Test
  void aTieWithinHalfAPointIsAsGoodAndBeyondItBetter() {
    List<SetupResult> tie =
        List.of(
            result(Scenario.LATENCY, Setup.NO_RETRIES, 10, 50, 0),
            result(Scenario.LATENCY, Setup.GRPC_BUILTIN, 10, 50, 0),
            result(Scenario.LATENCY, Setup.GRPC_RETRY, 10, 50, 0));
    List<SetupResult> better =
        List.of(
            result(Scenario.LATENCY, Setup.NO_RETRIES, 10, 50, 0),
            result(Scenario.LATENCY, Setup.GRPC_BUILTIN, 10, 50, 0),
            result(Scenario.LATENCY, Setup.GRPC_RETRY, 9, 50, 0));

    assertThat(ResultTable.comparisons(tie, OPTIONS).get(0)).contains("+0.0 points, as good");
    assertThat(ResultTable.comparisons(better, OPTIONS).get(0)).contains("+2.0 points, better");
  }

  @Test
  void withoutATriggerTheWholeRunCountsAndRecoveryDoesNotApply() {
    SetupResult r = result(Scenario.TRANSIENT, Setup.GRPC_RETRY, 0, 50, 0);

    assertThat(r.offeredDuringTrigger()).isEqualTo(100);
    assertThat(r.serverAttemptsDuringTrigger()).isEqualTo(r.serverAttempts());
    assertThat(r.recoveryMillis()).isEqualTo(SetupResult.NO_TRIGGER);
    assertThat(ResultTable.shortRecovery(r.recoveryMillis())).isEqualTo("-");
    assertThat(ResultTable.shortRecovery(-1)).isEqualTo("never");
    assertThat(ResultTable.shortRecovery(250)).isEqualTo("0.25 s");
  }

  @Test
  void aRunWhoseCallsWentOutLateIsFlagged() {
    SetupResult late = result(Scenario.LATENCY, Setup.GRPC_RETRY, 0, 50, 80);
    SetupResult onTime = result(Scenario.LATENCY, Setup.NO_RETRIES, 0, 50, 0);

    assertThat(late.sendLagP99Nanos()).isEqualTo(80_000_000);
    assertThat(ResultTable.finished(1, 2, late, OPTIONS))
        .contains("WARNING: calls went out up to 80 ms late (p99)");
    assertThat(ResultTable.finished(2, 2, onTime, OPTIONS)).doesNotContain("WARNING");
    assertThat(ResultTable.matrix(List.of(onTime, late), OPTIONS))
        .contains("WARNING: in 1 run the calls went out more than 50 ms late (p99)")
        .contains("latency / grpc-retry.");
  }
}
