package io.github.grpcretry.lab;

import java.math.BigDecimal;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;

/**
 * The lab's settings, read from the command line.
 *
 * <p>Every option has a default calibrated on a 2-core machine so that, with no option at all, the
 * demonstration (two scenarios, seven set-ups) takes about 65 s of lab time; see {@link #usage()}.
 *
 * <p>Immutable and thread-safe.
 */
public final class LabOptions {

  /**
   * The scenarios the demonstration runs when {@code --scenario} is not given: the overload and the
   * outage, the two that tell the set-ups apart most, so that with all seven set-ups the default
   * command stays near 90 s on a 2-core machine; {@code --scenario all} runs the others too.
   */
  static final List<String> DEFAULT_SCENARIOS = List.of("latency", "outage");

  /** Every option, with what it takes, its default and what it means, in the order of --help. */
  enum Option {
    DURATION("--duration-seconds", "SECONDS", "4.5", "length of each set-up's run"),
    TRIGGER_START("--trigger-start-seconds", "SECONDS", "1", "healthy time before the trigger"),
    TRIGGER("--trigger-seconds", "SECONDS", "2", "length of the trigger"),
    RATE("--rate", "CALLS", "400", "offered calls per second, on a fixed schedule"),
    SCENARIO(
        "--scenario",
        "LIST|all",
        String.join(",", DEFAULT_SCENARIOS),
        "comma-separated scenarios, or all: " + Scenario.cliNames()),
    SETUPS(
        "--setups",
        "LIST",
        String.join(",", Setup.cliNames()),
        "comma-separated set-ups to compare, run one after another"),
    CLIENTS(
        "--clients",
        "N",
        "1",
        "independent clients, each with its own channel, interceptor and budget; the offered"
            + " calls are spread evenly over them"),
    REPORT("--report", "PATH", "storm-lab/target/storm-report.html", "where the HTML report goes"),
    SLOWDOWN("--slowdown", "FACTOR", "4", "service time multiplier of the latency scenario"),
    WORKERS("--workers", "N", "16", "server calls in progress at once (the worker pool)"),
    SERVICE_MS("--service-ms", "MILLIS", "20", "server work per call when healthy"),
    QUEUE("--queue", "N", "320", "server calls waiting for a worker; more are rejected"),
    TRANSIENT_PERCENT(
        "--transient-percent",
        "PERCENT",
        "2",
        "share of attempts that fail at once with UNAVAILABLE at any time, independently"),
    DEADLINE_MS("--deadline-ms", "MILLIS", "1000", "deadline of each call"),
    ATTEMPT_TIMEOUT_MS(
        "--attempt-timeout-ms",
        "MILLIS",
        "250",
        "per-attempt timeout of the retrying set-ups (grpc-java's own retry ignores it)"),
    WARMUP("--warmup-seconds", "SECONDS", "1", "unmeasured healthy load before the first set-up");

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

  private final long durationMillis;
  private final long triggerStartMillis;
  private final long triggerMillis;
  private final int rate;
  private final List<Scenario> scenarios;
  private final List<Setup> setups;
  private final int clients;
  private final @Nullable Path report;
  private final double slowdown;
  private final int workers;
  private final int serviceMillis;
  private final int queue;
  private final double transientPercent;
  private final int deadlineMillis;
  private final int attemptTimeoutMillis;
  private final long warmupMillis;

  private LabOptions(Map<Option, String> given) {
    this.durationMillis = seconds(given, Option.DURATION, 0.5, 600);
    this.triggerStartMillis = seconds(given, Option.TRIGGER_START, 0, 600);
    this.triggerMillis = seconds(given, Option.TRIGGER, 0.1, 600);
    this.rate = whole(given, Option.RATE, 1, 5000, "calls per second");
    this.scenarios = scenarios(value(given, Option.SCENARIO));
    this.setups = setups(value(given, Option.SETUPS));
    this.clients = whole(given, Option.CLIENTS, 1, 200, "clients");
    this.report = given.containsKey(Option.REPORT) ? report(given.get(Option.REPORT)) : null;
    this.slowdown = decimal(given, Option.SLOWDOWN, 1, 100, "(a factor)");
    this.workers = whole(given, Option.WORKERS, 1, 1000, "threads");
    this.serviceMillis = whole(given, Option.SERVICE_MS, 1, 10_000, "milliseconds");
    this.queue = whole(given, Option.QUEUE, 0, 100_000, "calls");
    this.transientPercent = decimal(given, Option.TRANSIENT_PERCENT, 0, 50, "(percent)");
    this.deadlineMillis = whole(given, Option.DEADLINE_MS, 10, 60_000, "milliseconds");
    this.attemptTimeoutMillis =
        whole(given, Option.ATTEMPT_TIMEOUT_MS, 1, 60_000, "milliseconds");
    this.warmupMillis = seconds(given, Option.WARMUP, 0, 60);
    if (attemptTimeoutMillis > deadlineMillis) {
      throw new IllegalArgumentException(
          String.format(
              Locale.ROOT,
              "%s (%d) must not exceed %s (%d): an attempt cannot outlive its call",
              Option.ATTEMPT_TIMEOUT_MS.flag,
              attemptTimeoutMillis,
              Option.DEADLINE_MS.flag,
              deadlineMillis));
    }
    if (triggerStartMillis + triggerMillis >= durationMillis) {
      throw new IllegalArgumentException(
          String.format(
              Locale.ROOT,
              "%s (%s) + %s (%s) must be less than %s (%s), to leave time to recover",
              Option.TRIGGER_START.flag,
              secondsText(triggerStartMillis),
              Option.TRIGGER.flag,
              secondsText(triggerMillis),
              Option.DURATION.flag,
              secondsText(durationMillis)));
    }
  }

  /** The settings with every option at its default. */
  public static LabOptions defaults() {
    return parse();
  }

  /**
   * Reads options given as {@code --name value} or {@code --name=value}; options not given keep
   * their defaults.
   *
   * @throws IllegalArgumentException whose message names the option, the value and what is
   *     allowed, if an option is unknown, repeated, has no value or a value out of range, or if
   *     the trigger does not end before the run does
   */
  public static LabOptions parse(String... args) {
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
    return new LabOptions(given);
  }

  /** Whether the arguments ask for the usage text rather than a run. */
  public static boolean asksForHelp(String... args) {
    return Arrays.asList(args).contains("--help") || Arrays.asList(args).contains("-h");
  }

  /** The text {@code --help} prints. */
  public static String usage() {
    StringBuilder text =
        new StringBuilder(
            "Usage: mvn -q -B -pl storm-lab -am -DskipTests package exec:java"
                + " [-Dexec.args=\"OPTIONS\"]\n\n"
                + "Runs the retry-storm lab: for each scenario and set-up, a fresh capacity-limited"
                + " server on\nloopback (three for slow-replica), open-loop load, and a trigger in the"
                + " middle of the run;\nthen prints one matrix of success, amplification and"
                + " recovery, and writes an HTML report\nwith charts.\n\n"
                + "Options (--name value or --name=value; SECONDS may have decimals):\n");
    for (Option o : Option.values()) {
      text.append("  ").append(o.flag).append(' ').append(o.metavar).append('\n');
      text.append("      ").append(o.help).append(" (default: ").append(o.defaultValue).append(")\n");
    }
    text.append("  --help\n      print this text\n");
    text.append("\nScenarios:\n");
    for (Scenario sc : Scenario.values()) {
      text.append("  ").append(sc.cliName()).append(": ").append(sc.description()).append('\n');
    }
    text.append("Set-ups:\n");
    for (Setup setup : Setup.values()) {
      text.append("  ").append(setup.cliName()).append(": ").append(setup.description()).append('\n');
    }
    text.append("Exit status: 0 after a run, 2 for bad options, 1 if the run failed.\n");
    return text.toString();
  }

  /** Length of each set-up's run. */
  public long durationMillis() {
    return durationMillis;
  }

  /** When the trigger starts, from the start of each set-up's run. */
  public long triggerStartMillis() {
    return triggerStartMillis;
  }

  /** How long the trigger lasts. */
  public long triggerMillis() {
    return triggerMillis;
  }

  /** When the trigger ends, from the start of each set-up's run. */
  public long triggerEndMillis() {
    return triggerStartMillis + triggerMillis;
  }

  /** Offered calls per second. */
  public int rate() {
    return rate;
  }

  /** The scenarios to run, in order, without repeats. */
  public List<Scenario> scenarios() {
    return scenarios;
  }

  /** Independent clients per set-up. */
  public int clients() {
    return clients;
  }

  /** The set-ups to run, in order, without repeats. */
  public List<Setup> setups() {
    return setups;
  }

  /** The report's path, or null for the default. */
  public @Nullable Path report() {
    return report;
  }

  /** Service time multiplier of the latency scenario. */
  public double slowdown() {
    return slowdown;
  }

  /** Calls the server works on at once. */
  public int workers() {
    return workers;
  }

  /** Server work per call when healthy. */
  public int serviceMillis() {
    return serviceMillis;
  }

  /** Calls the server keeps waiting for a worker before it rejects more. */
  public int queue() {
    return queue;
  }

  /** Deadline of each call. */
  public int deadlineMillis() {
    return deadlineMillis;
  }

  /** Per-attempt timeout of the retrying set-ups. */
  public int perAttemptTimeoutMillis() {
    return attemptTimeoutMillis;
  }

  /** Percentage of attempts that fail at once with UNAVAILABLE, independently, at any time. */
  public double transientPercent() {
    return transientPercent;
  }

  /** Unmeasured healthy load before the first set-up, to compile the hot paths. */
  public long warmupMillis() {
    return warmupMillis;
  }

  /** Calls per second the server completes when healthy. */
  public double capacityPerSecond() {
    return workers * 1000.0 / serviceMillis;
  }

  @Override
  public String toString() {
    return String.format(
        Locale.ROOT,
        "LabOptions{duration=%ss, triggerStart=%ss, trigger=%ss, rate=%d/s, scenarios=%s, setups=%s,"
            + " clients=%d, report=%s, slowdown=%s, workers=%d, serviceMs=%d, queue=%d, transientPercent=%s,"
            + " deadlineMs=%d, attemptTimeoutMs=%d, warmup=%ss}",
        secondsText(durationMillis),
        secondsText(triggerStartMillis),
        secondsText(triggerMillis),
        rate,
        scenarios.stream().map(Scenario::cliName).collect(Collectors.joining(",")),
        setups.stream().map(Setup::cliName).collect(Collectors.joining(",")),
        clients,
        report,
        slowdown,
        workers,
        serviceMillis,
        queue,
        transientPercent,
        deadlineMillis,
        attemptTimeoutMillis,
        secondsText(warmupMillis));
  }

  /** Milliseconds as seconds, without trailing zeros: 2000 → "2", 1500 → "1.5". */
  static String secondsText(long millis) {
    return BigDecimal.valueOf(millis, 3).stripTrailingZeros().toPlainString();
  }

  private static String value(Map<Option, String> given, Option option) {
    return given.getOrDefault(option, option.defaultValue);
  }

  private static long seconds(Map<Option, String> given, Option option, double min, double max) {
    String text = value(given, option);
    double seconds = parseDouble(text);
    if (!(seconds >= min && seconds <= max)) {
      throw new IllegalArgumentException(
          String.format(
              Locale.ROOT,
              "%s must be a number of seconds from %s to %s: \"%s\"",
              option.flag,
              number(min),
              number(max),
              text));
    }
    return Math.round(seconds * 1000);
  }

  private static double decimal(
      Map<Option, String> given, Option option, double min, double max, String unit) {
    String text = value(given, option);
    double value = parseDouble(text);
    if (!(value >= min && value <= max)) {
      throw new IllegalArgumentException(
          String.format(
              Locale.ROOT,
              "%s must be a number from %s to %s %s: \"%s\"",
              option.flag,
              number(min),
              number(max),
              unit,
              text));
    }
    return value;
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

  /** NaN for anything that is not a plain decimal number, so that range checks reject it. */
  private static double parseDouble(String text) {
    if (!text.trim().matches("[0-9]+(\\.[0-9]*)?|\\.[0-9]+")) {
      return Double.NaN;
    }
    return Double.parseDouble(text.trim());
  }

  private static String number(double value) {
    return value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value);
  }

  private static List<Scenario> scenarios(String text) {
    if (text.trim().equalsIgnoreCase("all")) {
      return List.of(Scenario.values());
    }
    Set<Scenario> chosen = new LinkedHashSet<>();
    for (String part : text.split(",", -1)) {
      String name = part.trim().toLowerCase(Locale.ROOT);
      Scenario scenario =
          Scenario.fromCliName(name)
              .orElseThrow(
                  () ->
                      new IllegalArgumentException(
                          Option.SCENARIO.flag
                              + " must be all or a comma-separated list of "
                              + Scenario.cliNames()
                              + ": \""
                              + part.trim()
                              + "\" is not one of them in \""
                              + text
                              + "\""));
      if (!chosen.add(scenario)) {
        throw new IllegalArgumentException(
            Option.SCENARIO.flag + " names \"" + name + "\" twice: \"" + text + "\"");
      }
    }
    return List.copyOf(chosen);
  }

  private static List<Setup> setups(String text) {
    Set<Setup> chosen = new LinkedHashSet<>();
    for (String part : text.split(",", -1)) {
      String name = part.trim().toLowerCase(Locale.ROOT);
      Setup setup =
          Setup.fromCliName(name)
              .orElseThrow(
                  () ->
                      new IllegalArgumentException(
                          Option.SETUPS.flag
                              + " must be a comma-separated list of "
                              + String.join(", ", Setup.cliNames())
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
    return List.copyOf(chosen);
  }

  private static Path report(String text) {
    if (text.isBlank()) {
      throw new IllegalArgumentException(
          Option.REPORT.flag + " must be a file path: \"" + text + "\"");
    }
    try {
      return Path.of(text);
    } catch (InvalidPathException e) {
      throw new IllegalArgumentException(
          Option.REPORT.flag + " must be a file path: \"" + text + "\" (" + e.getReason() + ")", e);
    }
  }
}
