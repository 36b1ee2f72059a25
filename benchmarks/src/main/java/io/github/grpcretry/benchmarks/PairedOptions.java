package io.github.grpcretry.benchmarks;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;

/**
 * The settings of {@link PairedBenchmark}, read from the command line; see {@link #usage()}.
 *
 * <p>Immutable and thread-safe.
 */
final class PairedOptions {

  /** Every option, with what it takes, its default and what it means, in the order of --help. */
  enum Option {
    SCENARIO(
        "--scenario",
        PairedScenario.cliNames().replace(", ", "|"),
        PairedScenario.UNARY.cliName(),
        "the call one operation makes"),
    SETUPS(
        "--setups",
        "LIST",
        "bare,builtin,interceptor,interceptor-100-methods,"
            + "netty-bare,netty-builtin,netty-interceptor",
        "comma-separated set-ups to measure side by side; the baseline of each transport (bare,"
            + " netty-bare) is added if missing"),
    ROUNDS(
        "--rounds", "N", "60", "measured rounds; each runs every set-up once, in a random order"),
    SLICE("--slice-ms", "MILLIS", "150", "how long each set-up runs in each round"),
    WARMUP(
        "--warmup-ms",
        "MILLIS",
        "3000",
        "unmeasured running time of each set-up before the first round, in interleaved slices"),
    SEED("--seed", "LONG", "random, printed", "seed of the order of the set-ups in each round");

    final String flag;
    final String metavar;
    final String defaultValue;
    final String help;

    Option(String flag, String metavar, String defaultValue, String help) {
      this.flag = flag;
      this.metavar = metavar;
      this.defaultValue = defaultValue;
      this.help = help;
    }

    static @Nullable Option ofFlag(String flag) {
      for (Option o : values()) {
        if (o.flag.equals(flag)) {
          return o;
        }
      }
      return null;
    }
  }

  private final PairedScenario scenario;
  private final List<PairedSetup> setups;
  private final int rounds;
  private final int sliceMillis;
  private final int warmupMillis;
  private final long seed;

  private PairedOptions(Map<Option, String> given) {
    this.scenario = scenario(value(given, Option.SCENARIO));
    this.setups = setups(value(given, Option.SETUPS));
    this.rounds = whole(given, Option.ROUNDS, 1, 100_000, "rounds");
    this.sliceMillis = whole(given, Option.SLICE, 1, 60_000, "milliseconds");
    this.warmupMillis = whole(given, Option.WARMUP, 0, 3_600_000, "milliseconds");
    this.seed =
        given.containsKey(Option.SEED)
            ? seed(given.get(Option.SEED))
            : ThreadLocalRandom.current().nextLong();
  }

  /**
   * Reads options given as {@code --name value} or {@code --name=value}; options not given keep
   * their defaults, and the seed is then drawn at random.
   *
   * @throws IllegalArgumentException whose message names the option, the value and what is
   *     allowed, if an option is unknown, repeated, has no value or a value out of range
   */
  static PairedOptions parse(String... args) {
    Map<Option, String> given = new EnumMap<>(Option.class);
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--")) {
        throw new IllegalArgumentException(
            "unexpected argument \"" + arg + "\": options start with --; see --help");
      }
      int equals = arg.indexOf('=');
      String flag = equals >= 0 ? arg.substring(0, equals) : arg;
      Option option = Option.ofFlag(flag);
      if (option == null) {
        throw new IllegalArgumentException(
            "unknown option \""
                + flag
                + "\"; the options are "
                + Arrays.stream(Option.values()).map(o -> o.flag).collect(Collectors.joining(", "))
                + ", --help");
      }
      String value;
      if (equals >= 0) {
        value = arg.substring(equals + 1);
      } else if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
        value = args[++i];
      } else {
        throw new IllegalArgumentException(option.flag + " needs a value: " + option.metavar);
      }
      String earlier = given.put(option, value);
      if (earlier != null) {
        throw new IllegalArgumentException(
            option.flag + " is given twice: \"" + earlier + "\" and \"" + value + "\"");
      }
    }
    return new PairedOptions(given);
  }

  /** Whether the arguments ask for the usage text rather than a run. */
  static boolean asksForHelp(String... args) {
    return Arrays.asList(args).contains("--help") || Arrays.asList(args).contains("-h");
  }

  /** The text {@code --help} prints. */
  static String usage() {
    StringBuilder text =
        new StringBuilder(
            """
            Usage: benchmarks/paired.sh [OPTIONS]

            Measures set-ups side by side in one JVM: after a warm-up, each round runs every
            set-up once for a slice of fixed length, in a random order, counting operations, the
            measuring thread's CPU time and the bytes it allocates. For each set-up it reports
            the median and interquartile range of its per-round ratio to its transport's bare
            channel in the same round, the median ops/s and the median B/op, as a Markdown table.

            Options (--name value or --name=value):
            """);
    for (Option o : Option.values()) {
      text.append("  ").append(o.flag).append(' ').append(o.metavar).append('\n');
      text.append("      ").append(o.help);
      text.append(" (default: ").append(o.defaultValue).append(")\n");
    }
    text.append("  --help\n      print this text\n");
    text.append("\nSet-ups: ")
        .append(names(PairedSetup.all()))
        .append(
            """
            .
            In-process set-ups run the call, server included, on the measuring thread; netty-*
            set-ups talk HTTP/2 to 127.0.0.1, and their server and socket I/O run on Netty's
            event-loop threads.
            A smoke run: --rounds 3 --slice-ms 20 --warmup-ms 50.
            Exit status: 0 after a run, 2 for bad options, 1 if the run failed.
            """);
    return text.toString();
  }

  /** The call one operation makes. */
  PairedScenario scenario() {
    return scenario;
  }

  /**
   * The set-ups to measure, each transport's baseline among them, in {@link PairedSetup#all()}'s
   * order.
   */
  List<PairedSetup> setups() {
    return setups;
  }

  /** Measured rounds. */
  int rounds() {
    return rounds;
  }

  /** How long each set-up runs in each round. */
  int sliceMillis() {
    return sliceMillis;
  }

  /** Unmeasured running time of each set-up before the first round. */
  int warmupMillis() {
    return warmupMillis;
  }

  /** Rounds of warm-up: enough whole slices to cover {@link #warmupMillis()}. */
  int warmupRounds() {
    return (warmupMillis + sliceMillis - 1) / sliceMillis;
  }

  /** Seed of the order of the set-ups in each round, warm-up included. */
  long seed() {
    return seed;
  }

  /** The arguments that repeat this run, every option spelled out, the seed included. */
  List<String> arguments() {
    return List.of(
        Option.SCENARIO.flag,
        scenario.cliName(),
        Option.ROUNDS.flag,
        Integer.toString(rounds),
        Option.SLICE.flag,
        Integer.toString(sliceMillis),
        Option.WARMUP.flag,
        Integer.toString(warmupMillis),
        Option.SEED.flag,
        Long.toString(seed),
        Option.SETUPS.flag,
        setups.stream().map(PairedSetup::name).collect(Collectors.joining(",")));
  }

  @Override
  public String toString() {
    return "PairedOptions" + arguments();
  }

  private static String names(List<PairedSetup> setups) {
    return setups.stream().map(PairedSetup::name).collect(Collectors.joining(", "));
  }

  private static String value(Map<Option, String> given, Option option) {
    return given.getOrDefault(option, option.defaultValue);
  }

  private static int whole(
      Map<Option, String> given, Option option, int min, int max, String unit) {
    String text = value(given, option);
    long value;
    try {
      value = Long.parseLong(text.trim());
    } catch (NumberFormatException e) {
      value = Long.MIN_VALUE;
    }
    if (value < min || value > max) {
      throw new IllegalArgumentException(
          String.format(
              Locale.ROOT,
              "%s must be a whole number from %d to %d (%s): \"%s\"",
              option.flag,
              min,
              max,
              unit,
              text));
    }
    return (int) value;
  }

  private static long seed(String text) {
    try {
      return Long.parseLong(text.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          String.format(
              Locale.ROOT,
              "%s must be a whole number from %d to %d: \"%s\"",
              Option.SEED.flag,
              Long.MIN_VALUE,
              Long.MAX_VALUE,
              text),
          e);
    }
  }

  private static PairedScenario scenario(String text) {
    return PairedScenario.fromCliName(text.trim().toLowerCase(Locale.ROOT))
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    Option.SCENARIO.flag
                        + " must be one of "
                        + PairedScenario.cliNames()
                        + ": \""
                        + text
                        + "\""));
  }

  private static List<PairedSetup> setups(String text) {
    List<PairedSetup> all = PairedSetup.all();
    Set<PairedSetup> chosen = new LinkedHashSet<>();
    for (String part : text.split(",", -1)) {
      String name = part.trim().toLowerCase(Locale.ROOT);
      PairedSetup setup =
          all.stream()
              .filter(s -> s.name().equals(name))
              .findFirst()
              .orElseThrow(
                  () ->
                      new IllegalArgumentException(
                          Option.SETUPS.flag
                              + " must be a comma-separated list of "
                              + names(all)
                              + ": \""
                              + part.trim()
                              + "\" is not one of them in \""
                              + text
                              + "\""));
      if (!chosen.add(setup)) {
        throw new IllegalArgumentException(
            Option.SETUPS.flag + " names \"" + name + "\" twice: \"" + text + "\"");
      }
    }
    for (PairedSetup setup : List.copyOf(chosen)) {
      chosen.add(setup.baseline());
    }
    List<PairedSetup> ordered = new ArrayList<>(all);
    ordered.retainAll(chosen);
    return List.copyOf(ordered);
  }
}
