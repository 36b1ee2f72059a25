package io.github.grpcretry.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class LabOptionsTest {

  @Test
  void defaultsAreTheDocumentedCalibration() {
    LabOptions o = LabOptions.defaults();

    assertThat(o.durationMillis()).isEqualTo(4_500);
    assertThat(o.triggerStartMillis()).isEqualTo(1_000);
    assertThat(o.triggerMillis()).isEqualTo(2_000);
    assertThat(o.triggerEndMillis()).isEqualTo(3_000);
    assertThat(o.rate()).isEqualTo(400);
    assertThat(o.scenarios()).containsExactly(Scenario.LATENCY, Scenario.OUTAGE);
    assertThat(o.setups()).containsExactly(Setup.values());
    assertThat(o.clients()).isEqualTo(1);
    assertThat(o.report()).isNull();
    assertThat(o.slowdown()).isEqualTo(4.0);
    assertThat(o.workers()).isEqualTo(16);
    assertThat(o.serviceMillis()).isEqualTo(20);
    assertThat(o.queue()).isEqualTo(320);
    assertThat(o.transientPercent()).isEqualTo(2.0);
    assertThat(o.deadlineMillis()).isEqualTo(1000);
    assertThat(o.perAttemptTimeoutMillis()).isEqualTo(250);
    assertThat(o.warmupMillis()).isEqualTo(1000);
    assertThat(o.capacityPerSecond()).isEqualTo(800.0);
  }

  @Test
  void readsBothOptionFormsAndDecimalSeconds() {
    LabOptions o =
        LabOptions.parse(
            "--duration-seconds",
            "2.5",
            "--trigger-start-seconds=0.5",
            "--trigger-seconds",
            ".75",
            "--rate=50",
            "--scenario",
            "OUTAGE",
            "--setups",
            "grpc-retry, naive",
            "--report",
            "out/r.html",
            "--transient-percent=0");

    assertThat(o.durationMillis()).isEqualTo(2_500);
    assertThat(o.triggerStartMillis()).isEqualTo(500);
    assertThat(o.triggerMillis()).isEqualTo(750);
    assertThat(o.rate()).isEqualTo(50);
    assertThat(o.scenarios()).containsExactly(Scenario.OUTAGE);
    assertThat(o.setups()).containsExactly(Setup.GRPC_RETRY, Setup.NAIVE);
    assertThat(o.report()).isEqualTo(Path.of("out/r.html"));
    assertThat(o.transientPercent()).isZero();
  }

  @Test
  void rejectsAnUnknownOptionAndListsTheKnownOnes() {
    assertThatThrownBy(() -> LabOptions.parse("--rat", "10"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("unknown option \"--rat\"; the options are --duration-seconds,")
        .hasMessageContaining("--rate")
        .hasMessageEndingWith(", --help");
  }

  @Test
  void rejectsAValueThatIsNotAWholeNumber() {
    assertThatThrownBy(() -> LabOptions.parse("--rate", "fast"))
        .hasMessage("--rate must be a whole number from 1 to 5000 (calls per second): \"fast\"");
    assertThatThrownBy(() -> LabOptions.parse("--rate=2.5"))
        .hasMessage("--rate must be a whole number from 1 to 5000 (calls per second): \"2.5\"");
  }

  @Test
  void rejectsValuesOutOfRange() {
    assertThatThrownBy(() -> LabOptions.parse("--rate", "0"))
        .hasMessage("--rate must be a whole number from 1 to 5000 (calls per second): \"0\"");
    assertThatThrownBy(() -> LabOptions.parse("--duration-seconds", "-3"))
        .hasMessage("--duration-seconds must be a number of seconds from 0.5 to 600: \"-3\"");
    assertThatThrownBy(() -> LabOptions.parse("--duration-seconds", "NaN"))
        .hasMessage("--duration-seconds must be a number of seconds from 0.5 to 600: \"NaN\"");
    assertThatThrownBy(() -> LabOptions.parse("--slowdown", "0.5"))
        .hasMessage("--slowdown must be a number from 1 to 100 (a factor): \"0.5\"");
    assertThatThrownBy(() -> LabOptions.parse("--workers", "0"))
        .hasMessage("--workers must be a whole number from 1 to 1000 (threads): \"0\"");
  }

  @Test
  void readsAScenarioListOrAll() {
    assertThat(LabOptions.parse("--scenario", "brownout, Shedding").scenarios())
        .containsExactly(Scenario.BROWNOUT, Scenario.SHEDDING);
    assertThat(LabOptions.parse("--scenario=ALL").scenarios()).containsExactly(Scenario.values());
    assertThat(LabOptions.parse("--clients", "20").clients()).isEqualTo(20);
  }

  @Test
  void rejectsAnUnknownOrRepeatedScenario() {
    assertThatThrownBy(() -> LabOptions.parse("--scenario", "slow"))
        .hasMessage(
            "--scenario must be all or a comma-separated list of latency, outage, brownout,"
                + " shedding, slow-replica, transient: \"slow\" is not one of them in \"slow\"");
    assertThatThrownBy(() -> LabOptions.parse("--scenario", "outage,"))
        .hasMessageContaining("\"\" is not one of them in \"outage,\"");
    assertThatThrownBy(() -> LabOptions.parse("--scenario", "outage,all"))
        .hasMessageContaining("\"all\" is not one of them in \"outage,all\"");
    assertThatThrownBy(() -> LabOptions.parse("--scenario", "outage,OUTAGE"))
        .hasMessage("--scenario names \"outage\" twice: \"outage,OUTAGE\"");
  }

  @Test
  void rejectsABadNumberOfClients() {
    assertThatThrownBy(() -> LabOptions.parse("--clients", "0"))
        .hasMessage("--clients must be a whole number from 1 to 200 (clients): \"0\"");
    assertThatThrownBy(() -> LabOptions.parse("--clients", "many"))
        .hasMessage("--clients must be a whole number from 1 to 200 (clients): \"many\"");
  }

  @Test
  void rejectsAnUnknownOrRepeatedSetup() {
    assertThatThrownBy(() -> LabOptions.parse("--setups", "naive,fancy"))
        .hasMessage(
            "--setups must be a comma-separated list of no-retries, naive, grpc-builtin,"
                + " grpc-retry, grpc-retry-hedge, grpc-retry-breaker, grpc-retry-throttling:"
                + " \"fancy\" is not one of them in \"naive,fancy\"");
    assertThatThrownBy(() -> LabOptions.parse("--setups", "naive,"))
        .hasMessageContaining("\"\" is not one of them in \"naive,\"");
    assertThatThrownBy(() -> LabOptions.parse("--setups", "naive,NAIVE"))
        .hasMessage("--setups names \"naive\" twice: \"naive,NAIVE\"");
  }

  @Test
  void rejectsAMissingValue() {
    assertThatThrownBy(() -> LabOptions.parse("--rate"))
        .hasMessage("--rate needs a value: CALLS");
    assertThatThrownBy(() -> LabOptions.parse("--rate", "--scenario", "outage"))
        .hasMessage("--rate needs a value: CALLS");
  }

  @Test
  void rejectsARepeatedOption() {
    assertThatThrownBy(() -> LabOptions.parse("--rate", "10", "--rate=20"))
        .hasMessage("--rate is given twice: \"10\" and \"20\"");
  }

  @Test
  void rejectsAPositionalArgument() {
    assertThatThrownBy(() -> LabOptions.parse("outage"))
        .hasMessage("unexpected argument \"outage\": options start with --; see --help");
  }

  @Test
  void rejectsATriggerThatDoesNotEndBeforeTheRun() {
    assertThatThrownBy(
            () ->
                LabOptions.parse(
                    "--duration-seconds", "5", "--trigger-start-seconds", "2",
                    "--trigger-seconds", "3"))
        .hasMessage(
            "--trigger-start-seconds (2) + --trigger-seconds (3) must be less than"
                + " --duration-seconds (5), to leave time to recover");
  }

  @Test
  void rejectsAnAttemptTimeoutLongerThanTheDeadline() {
    assertThatThrownBy(
            () -> LabOptions.parse("--deadline-ms", "500", "--attempt-timeout-ms", "600"))
        .hasMessage(
            "--attempt-timeout-ms (600) must not exceed --deadline-ms (500): an attempt cannot"
                + " outlive its call");
  }

  @Test
  void rejectsAnEmptyReportPath() {
    assertThatThrownBy(() -> LabOptions.parse("--report="))
        .hasMessage("--report must be a file path: \"\"");
  }

  @Test
  void recognisesHelpAnywhere() {
    assertThat(LabOptions.asksForHelp("--rate", "5", "--help")).isTrue();
    assertThat(LabOptions.asksForHelp("-h")).isTrue();
    assertThat(LabOptions.asksForHelp("--rate", "5")).isFalse();
  }

  @Test
  void usageListsEveryOptionWithItsDefault() {
    String usage = LabOptions.usage();
    for (LabOptions.Option o : LabOptions.Option.values()) {
      assertThat(usage).contains(o.flag + " " + o.metavar).contains("(default: " + o.defaultValue);
    }
    assertThat(usage).contains("--help");
    for (Scenario sc : Scenario.values()) {
      assertThat(usage).contains("  " + sc.cliName() + ": ");
    }
    for (Setup setup : Setup.values()) {
      assertThat(usage).contains("  " + setup.cliName() + ": ");
    }
  }

  @Test
  void commandExitsWith2AndNamesTheProblemOnBadArguments() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int status =
        StormLab.execute(
            new String[] {"--scenario", "meteor"}, print(out), print(err));

    assertThat(status).isEqualTo(2);
    assertThat(out.toString(StandardCharsets.UTF_8)).isEmpty();
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("storm-lab: --scenario must be all or a comma-separated list of latency,")
        .contains("\"meteor\" is not one of them")
        .contains("--help");
  }

  @Test
  void commandPrintsUsageAndExitsWith0OnHelp() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int status = StormLab.execute(new String[] {"--help"}, print(out), print(err));

    assertThat(status).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo(LabOptions.usage());
    assertThat(err.toString(StandardCharsets.UTF_8)).isEmpty();
  }

  private static PrintStream print(ByteArrayOutputStream bytes) {
    return new PrintStream(bytes, true, StandardCharsets.UTF_8);
  }
}
