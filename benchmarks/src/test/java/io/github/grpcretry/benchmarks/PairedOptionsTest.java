package io.github.grpcretry.benchmarks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PairedOptionsTest {

  @Test
  void defaultsAreTheDocumentedRun() {
    PairedOptions o = PairedOptions.parse();

    assertThat(o.scenario()).isEqualTo(PairedScenario.UNARY);
    assertThat(o.setups())
        .extracting(PairedSetup::name)
        .containsExactly(
            "bare",
            "builtin",
            "interceptor",
            "interceptor-100-methods",
            "netty-bare",
            "netty-builtin",
            "netty-interceptor");
    assertThat(o.rounds()).isEqualTo(60);
    assertThat(o.sliceMillis()).isEqualTo(150);
    assertThat(o.warmupMillis()).isEqualTo(3000);
    assertThat(o.warmupRounds()).isEqualTo(20);
  }

  @Test
  void readsBothOptionForms() {
    PairedOptions o =
        PairedOptions.parse(
            "--scenario",
            "UPLOAD-ITEMS",
            "--rounds=3",
            "--slice-ms",
            "20",
            "--warmup-ms=50",
            "--seed",
            "-42",
            "--setups",
            "interceptor, bare");

    assertThat(o.scenario()).isEqualTo(PairedScenario.UPLOAD_ITEMS);
    assertThat(o.rounds()).isEqualTo(3);
    assertThat(o.sliceMillis()).isEqualTo(20);
    assertThat(o.warmupMillis()).isEqualTo(50);
    assertThat(o.warmupRounds()).isEqualTo(3);
    assertThat(o.seed()).isEqualTo(-42);
    assertThat(o.setups()).extracting(PairedSetup::name).containsExactly("bare", "interceptor");
  }

  @Test
  void addsTheBaselineOfEachTransportChosen() {
    assertThat(PairedOptions.parse("--setups", "netty-interceptor,builtin").setups())
        .extracting(PairedSetup::name)
        .containsExactly("bare", "builtin", "netty-bare", "netty-interceptor");
  }

  @Test
  void aWarmUpOfZeroIsNone() {
    assertThat(PairedOptions.parse("--warmup-ms", "0").warmupRounds()).isZero();
  }

  @Test
  void theArgumentsRepeatTheRunExactly() {
    PairedOptions o = PairedOptions.parse("--setups", "netty-interceptor", "--rounds", "7");

    PairedOptions again = PairedOptions.parse(o.arguments().toArray(new String[0]));

    assertThat(again.arguments()).isEqualTo(o.arguments());
    assertThat(again.seed()).isEqualTo(o.seed());
    assertThat(PairedReport.command(o.arguments()))
        .isEqualTo(
            "benchmarks/paired.sh --scenario unary --rounds 7 --slice-ms 150 --warmup-ms 3000"
                + " --seed "
                + o.seed()
                + " --setups netty-bare,netty-interceptor");
  }

  @Test
  void rejectsAnUnknownOptionAndListsTheKnownOnes() {
    assertThatThrownBy(() -> PairedOptions.parse("--round", "10"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "unknown option \"--round\"; the options are --scenario, --setups, --rounds,"
                + " --slice-ms, --warmup-ms, --seed, --help");
    assertThatThrownBy(() -> PairedOptions.parse("60"))
        .hasMessage("unexpected argument \"60\": options start with --; see --help");
  }

  @Test
  void rejectsValuesOutOfRangeSayingWhatIsAllowed() {
    assertThatThrownBy(() -> PairedOptions.parse("--rounds", "0"))
        .hasMessage("--rounds must be a whole number from 1 to 100000 (rounds): \"0\"");
    assertThatThrownBy(() -> PairedOptions.parse("--slice-ms", "1.5"))
        .hasMessage("--slice-ms must be a whole number from 1 to 60000 (milliseconds): \"1.5\"");
    assertThatThrownBy(() -> PairedOptions.parse("--warmup-ms=-1"))
        .hasMessage("--warmup-ms must be a whole number from 0 to 3600000 (milliseconds): \"-1\"");
    assertThatThrownBy(() -> PairedOptions.parse("--seed", "abc"))
        .hasMessage(
            "--seed must be a whole number from -9223372036854775808 to 9223372036854775807:"
                + " \"abc\"");
    assertThatThrownBy(() -> PairedOptions.parse("--scenario", "bidi"))
        .hasMessage("--scenario must be one of unary, list-items, upload-items: \"bidi\"");
  }

  @Test
  void rejectsUnknownOrRepeatedSetups() {
    assertThatThrownBy(() -> PairedOptions.parse("--setups", "bare,retry"))
        .hasMessage(
            "--setups must be a comma-separated list of bare, builtin, interceptor,"
                + " interceptor-100-methods, interceptor-one-attempt, interceptor-own-budget,"
                + " netty-bare, netty-builtin, netty-interceptor, netty-interceptor-100-methods,"
                + " netty-interceptor-one-attempt, netty-interceptor-own-budget: \"retry\" is not"
                + " one of them in \"bare,retry\"");
    assertThatThrownBy(() -> PairedOptions.parse("--setups", "bare,,interceptor"))
        .hasMessageContaining(": \"\" is not one of them in \"bare,,interceptor\"");
    assertThatThrownBy(() -> PairedOptions.parse("--setups", "bare,Bare"))
        .hasMessage("--setups names \"bare\" twice: \"bare,Bare\"");
  }

  @Test
  void rejectsAMissingOrRepeatedValue() {
    assertThatThrownBy(() -> PairedOptions.parse("--rounds"))
        .hasMessage("--rounds needs a value: N");
    assertThatThrownBy(() -> PairedOptions.parse("--rounds", "--slice-ms", "20"))
        .hasMessage("--rounds needs a value: N");
    assertThatThrownBy(() -> PairedOptions.parse("--rounds", "3", "--rounds=4"))
        .hasMessage("--rounds is given twice: \"3\" and \"4\"");
  }

  @Test
  void helpIsAskedForAndListsEveryOption() {
    assertThat(PairedOptions.asksForHelp("--rounds", "3", "--help")).isTrue();
    assertThat(PairedOptions.asksForHelp("-h")).isTrue();
    assertThat(PairedOptions.asksForHelp("--rounds", "3")).isFalse();
    assertThat(PairedOptions.usage())
        .startsWith("Usage: benchmarks/paired.sh [OPTIONS]")
        .contains("--scenario unary|list-items|upload-items", "--setups LIST", "--rounds N")
        .contains("--slice-ms MILLIS", "--warmup-ms MILLIS", "--seed LONG", "--help")
        .contains("--rounds 3 --slice-ms 20 --warmup-ms 50");
  }
}
