package io.github.grpcretry.benchmarks;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.benchmarks.PairedResult.SetupSummary;
import io.github.grpcretry.benchmarks.PairedStatistics.Interval;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Runs the paired mode end to end in its smoke configuration, against real servers. It checks that
 * the pieces fit and every set-up was measured, never how fast anything was: the real
 * measurement is {@code benchmarks/paired.sh}, which is not a test.
 */
class PairedBenchmarkSmokeTest {
  private static final String IN_PROCESS = "bare,builtin,interceptor,interceptor-100-methods";

  private static String[] smoke(String scenario, String setups) {
    return new String[] {
      "--rounds", "3", "--slice-ms", "20", "--warmup-ms", "50", "--seed", "7",
      "--scenario", scenario, "--setups", setups
    };
  }

  @ParameterizedTest
  @EnumSource(PairedScenario.class)
  void measuresEveryInProcessSetupInEveryRound(PairedScenario scenario) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PairedOptions options = PairedOptions.parse(smoke(scenario.cliName(), IN_PROCESS));

    PairedResult result =
        PairedBenchmark.run(options, new PrintStream(bytes, true, StandardCharsets.UTF_8), quiet());

    assertThat(result.setups())
        .extracting(PairedSetup::name)
        .containsExactly("bare", "builtin", "interceptor", "interceptor-100-methods");
    assertThat(result.rounds()).isEqualTo(3);
    for (PairedSetup setup : result.setups()) {
      assertThat(Arrays.stream(result.operations(setup)).min().orElseThrow())
          .as("%s: fewest operations in a round", setup)
          .isPositive();
    }
    List<SetupSummary> summaries = result.summaries();
    SetupSummary bare = summaries.get(0);
    assertThat(bare.ratio().median()).isEqualTo(1.0);
    assertThat(bare.cpuRatio().median()).isEqualTo(1.0);
    // Three rounds are too few for a confidence interval of the median.
    assertThat(bare.ratioMedianInterval()).isEqualTo(Interval.NONE);
    assertThat(bare.bytesPerOpMoreThanBaseline()).isZero();
    for (SetupSummary s : summaries) {
      assertThat(s.baseline().name()).isEqualTo("bare");
      assertThat(s.ratio().lower()).isLessThanOrEqualTo(s.ratio().median());
      assertThat(s.ratio().median()).isLessThanOrEqualTo(s.ratio().upper());
      assertThat(s.medianOpsPerSecond()).isPositive();
      assertThat(s.cpuRatio().lower()).isLessThanOrEqualTo(s.cpuRatio().median());
      assertThat(s.cpuRatio().median()).isLessThanOrEqualTo(s.cpuRatio().upper());
      assertThat(s.medianCpuShare()).as("%s thread CPU / wall", s.setup()).isPositive();
      assertThat(s.medianBytesPerOp()).as("%s B/op", s.setup()).isPositive();
    }
    String report = bytes.toString(StandardCharsets.UTF_8);
    assertThat(report)
        .contains("| set-up | baseline | share of baseline")
        .contains("| `bare` | `bare` | 1.000 (1.000–1.000) | n/a | 1.000 (1.000–1.000) |")
        .contains("| `builtin` | `bare` |", "| `interceptor` | `bare` |")
        .contains("| `interceptor-100-methods` | `bare` |")
        .contains(
            "benchmarks/paired.sh --scenario "
                + scenario.cliName()
                + " --rounds 3 --slice-ms 20 --warmup-ms 50 --seed 7 --setups "
                + IN_PROCESS)
        .contains("Machine: ", "Load average", "seed 7");
    assertThat(report.lines().filter(line -> line.startsWith("| `"))).hasSize(4);
  }

  @Test
  void measuresNettySetupsOnLoopbackToo() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PairedOptions options = PairedOptions.parse(smoke("unary", "netty-interceptor"));

    PairedResult result =
        PairedBenchmark.run(options, new PrintStream(bytes, true, StandardCharsets.UTF_8), quiet());

    assertThat(result.setups())
        .extracting(PairedSetup::name)
        .containsExactly("netty-bare", "netty-interceptor");
    for (PairedSetup setup : result.setups()) {
      assertThat(Arrays.stream(result.operations(setup)).min().orElseThrow())
          .as("%s: fewest operations in a round", setup)
          .isPositive();
    }
    assertThat(bytes.toString(StandardCharsets.UTF_8))
        .contains("| `netty-bare` | `netty-bare` | 1.000 (1.000–1.000) |")
        .contains("| `netty-interceptor` | `netty-bare` |")
        .contains("client's calling thread only");
  }

  @Test
  void theCommandLineReportsBadOptionsWithStatusTwo() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int status =
        PairedBenchmark.execute(
            new String[] {"--slice-ms", "0"},
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));

    assertThat(status).isEqualTo(2);
    assertThat(out.toString(StandardCharsets.UTF_8)).isEmpty();
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo(
            "paired: --slice-ms must be a whole number from 1 to 60000 (milliseconds): \"0\"\n"
                + "paired: run with --help to see the options.\n");
  }

  @Test
  void helpPrintsTheUsageAndRunsNothing() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();

    int status =
        PairedBenchmark.execute(
            new String[] {"--help"}, new PrintStream(out, true, StandardCharsets.UTF_8), quiet());

    assertThat(status).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo(PairedOptions.usage());
  }

  private static PrintStream quiet() {
    return new PrintStream(OutputStream.nullOutputStream(), true, StandardCharsets.UTF_8);
  }
}
