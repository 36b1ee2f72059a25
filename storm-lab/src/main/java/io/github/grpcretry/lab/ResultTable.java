package io.github.grpcretry.lab;

import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;

/**
 * The plain-text output of the lab (progress lines and the summary matrix), and the formatting of
 * figures that the HTML report shares. Plain ASCII, no escape codes, so that it reads the same in
 * a terminal, a CI log and a file.
 *
 * <p>Pure functions; thread-safe.
 */
final class ResultTable {
  /** Differences in success smaller than this count as a tie, as issue 11's target has it. */
  static final double TOLERANCE_POINTS = 0.5;
  /** A run whose calls went out later than this (p99) ran on a starved machine. */
  static final long LAG_WARNING_NANOS = 50_000_000;

  private ResultTable() {}

  /** A few lines describing the server, the load and the trigger. */
  static String describeRun(LabOptions o) {
    return String.format(
        Locale.ROOT,
        "Server: %d workers, queue %d, %d ms per call: capacity %s calls/s per server; %s%% of"
            + " attempts fail with UNAVAILABLE at random, at any time.%n"
            + "Load: %d calls/s (%.0f%% of one server's capacity) from %d client%s, deadline %d ms,"
            + " attempt timeout %d ms.%n"
            + "Trigger: from %s s to %s s of each %s s run; slowdown x%s for latency and"
            + " shedding.",
        o.workers(),
        o.queue(),
        o.serviceMillis(),
        decimal(o.capacityPerSecond()),
        decimal(o.transientPercent()),
        o.rate(),
        100.0 * o.rate() / o.capacityPerSecond(),
        o.clients(),
        o.clients() == 1 ? "" : "s, each with its own channel, interceptor and budget",
        o.deadlineMillis(),
        o.perAttemptTimeoutMillis(),
        LabOptions.secondsText(o.triggerStartMillis()),
        LabOptions.secondsText(o.triggerEndMillis()),
        LabOptions.secondsText(o.durationMillis()),
        LabOptions.secondsText(Math.round(o.slowdown() * 1000)));
  }

  /** The line printed when a set-up starts. */
  static String started(int index, int total, Scenario scenario, Setup setup, LabOptions o) {
    return String.format(
        Locale.ROOT,
        "[%2d/%d] %s / %s: running %s s...",
        index,
        total,
        scenario.cliName(),
        setup.cliName(),
        LabOptions.secondsText(o.durationMillis()));
  }

  /** The line printed every few seconds while a set-up runs. */
  static String progress(long elapsedNanos, int sent, int succeeded) {
    return String.format(
        Locale.ROOT,
        "        %s s: %d calls sent, %d succeeded so far",
        LabOptions.secondsText(elapsedNanos / 1_000_000),
        sent,
        succeeded);
  }

  /** The line printed when a set-up has finished. */
  static String finished(int index, int total, SetupResult r, LabOptions o) {
    return String.format(
        Locale.ROOT,
        "[%2d/%d] %s / %s: success %s (%s %s), ampl. %s, %s, p99 %s%s%s",
        index,
        total,
        r.scenario().cliName(),
        r.setup().cliName(),
        percent(r.successRate()),
        percent(r.successRateDuringTrigger()),
        r.scenario().hasTrigger() ? "during the trigger" : "whole run",
        ratio(r.amplificationDuringTrigger()),
        r.scenario().hasTrigger()
            ? "goodput back " + recovery(r.recoveryMillis(), o)
            : "no trigger",
        millis(r.p99Nanos()),
        r.rejectedLocally() > 0 ? ", " + r.rejectedLocally() + " rejected locally" : "",
        r.sendLagP99Nanos() > LAG_WARNING_NANOS
            ? "; WARNING: calls went out up to " + millis(r.sendLagP99Nanos())
                + " late (p99), the machine is too busy for this run's figures"
            : "");
  }

  /** The summary: matrices of scenario x set-up, the comparisons, and what they show. */
  static String matrix(List<SetupResult> results, LabOptions o) {
    StringBuilder t = new StringBuilder();
    List<Scenario> scenarios = o.scenarios();
    List<Setup> setups = o.setups();
    t.append(
        String.format(
            Locale.ROOT,
            "Summary: %d calls offered per run, %d during a trigger. Without a trigger"
                + " (slow-replica, transient)%nthe \"during the trigger\" figures cover the"
                + " whole run.%n%n",
            results.isEmpty() ? 0 : results.get(0).offered(),
            results.stream()
                .filter(r -> r.scenario().hasTrigger())
                .mapToInt(SetupResult::offeredDuringTrigger)
                .findFirst()
                .orElse(0)));
    grid(t, "Success during the trigger", scenarios, setups, results,
        r -> percent(r.successRateDuringTrigger()));
    grid(t, "Amplification during the trigger (attempts the server saw / calls offered)",
        scenarios, setups, results, r -> ratio(r.amplificationDuringTrigger()));
    List<Scenario> triggered = scenarios.stream().filter(Scenario::hasTrigger).toList();
    if (!triggered.isEmpty()) {
      grid(t, "Goodput back after the trigger (95% of the offered rate, held 1 s)",
          triggered, setups, results, r -> shortRecovery(r.recoveryMillis()));
    }
    grid(t, "Latency of successes, p99", scenarios, setups, results, r -> millis(r.p99Nanos()));
    List<Setup> breakers = setups.stream().filter(Setup::hasBreaker).toList();
    if (scenarios.contains(Scenario.OUTAGE) && !breakers.isEmpty()) {
      t.append("Breakers in outage:\n");
      for (Setup s : breakers) {
        SetupResult r = find(results, Scenario.OUTAGE, s);
        if (r != null) {
          t.append("  ").append(breakerLine(r)).append('\n');
        }
      }
      t.append('\n');
    }
    List<String> comparisons = comparisons(results, o);
    if (!comparisons.isEmpty()) {
      t.append("grpc-retry defaults against the best of no-retries and grpc-builtin"
          + " (success during the trigger):\n");
      for (String line : comparisons) {
        t.append("  ").append(line).append('\n');
      }
      t.append('\n');
    }
    List<String> starved =
        results.stream()
            .filter(r -> r.sendLagP99Nanos() > LAG_WARNING_NANOS)
            .map(r -> r.scenario().cliName() + " / " + r.setup().cliName())
            .toList();
    if (!starved.isEmpty()) {
      t.append(
          String.format(
              Locale.ROOT,
              "WARNING: in %d run%s the calls went out more than %s late (p99): the machine was"
                  + " too busy,%nand those figures are not to be trusted: %s.%n%n",
              starved.size(),
              starved.size() == 1 ? "" : "s",
              millis(LAG_WARNING_NANOS),
              String.join(", ", starved)));
    }
    t.append(whatItShows(results, o)).append('\n');
    return t.toString();
  }

  /** One breaker set-up's figures in the outage scenario, in one line. */
  static String breakerLine(SetupResult r) {
    double share = r.serverShareAfterSettling();
    return String.format(
        Locale.ROOT,
        "%s: server saw %s of offered calls after the first second; %d calls rejected"
            + " locally, failing within %s (p99) / %s (max); goodput back %s",
        r.setup().cliName(),
        Double.isNaN(share) ? "n/a (trigger not longer than 1 s)" : percent(share),
        r.rejectedLocally(),
        micros(r.localRejectionP99Nanos()),
        micros(r.localRejectionMaxNanos()),
        shortRecovery(r.recoveryMillis()));
  }

  /**
   * One line per scenario: grpc-retry defaults' success during the trigger against the better of
   * no-retries and grpc-builtin; empty unless all three ran.
   */
  static List<String> comparisons(List<SetupResult> results, LabOptions o) {
    List<String> lines = new ArrayList<>();
    for (Scenario sc : o.scenarios()) {
      SetupResult ours = find(results, sc, Setup.GRPC_RETRY);
      SetupResult none = find(results, sc, Setup.NO_RETRIES);
      SetupResult builtin = find(results, sc, Setup.GRPC_BUILTIN);
      if (ours == null || none == null || builtin == null) {
        continue;
      }
      SetupResult best =
          builtin.successRateDuringTrigger() > none.successRateDuringTrigger() ? builtin : none;
      double points = 100 * (ours.successRateDuringTrigger() - best.successRateDuringTrigger());
      String verdict =
          points >= TOLERANCE_POINTS
              ? "better"
              : points > -TOLERANCE_POINTS ? "as good (within 0.5 points)" : "worse";
      lines.add(
          String.format(
              Locale.ROOT,
              "%-13s %s against %s (%s): %+.1f points, %s; amplification %s against %s",
              sc.cliName() + ":",
              percent(ours.successRateDuringTrigger()),
              percent(best.successRateDuringTrigger()),
              best.setup().cliName(),
              points,
              verdict,
              ratio(ours.amplificationDuringTrigger()),
              ratio(best.amplificationDuringTrigger())));
    }
    return lines;
  }

  /** One or two sentences on what the matrix shows, from its figures. */
  static String whatItShows(List<SetupResult> results, LabOptions o) {
    int compared = 0;
    int notWorse = 0;
    List<String> worse = new ArrayList<>();
    for (Scenario sc : o.scenarios()) {
      SetupResult ours = find(results, sc, Setup.GRPC_RETRY);
      SetupResult none = find(results, sc, Setup.NO_RETRIES);
      SetupResult builtin = find(results, sc, Setup.GRPC_BUILTIN);
      if (ours == null || none == null || builtin == null) {
        continue;
      }
      compared++;
      double best = Math.max(none.successRateDuringTrigger(), builtin.successRateDuringTrigger());
      if (100 * (ours.successRateDuringTrigger() - best) > -TOLERANCE_POINTS) {
        notWorse++;
      } else {
        worse.add(sc.cliName());
      }
    }
    StringBuilder text = new StringBuilder();
    if (compared > 0) {
      text.append(
          String.format(
              Locale.ROOT,
              "What it shows: grpc-retry's defaults were at least as successful as the better of"
                  + " no retries and grpc-java's own retry (within %.1f points) in %d of %d"
                  + " scenarios%s.",
              TOLERANCE_POINTS,
              notWorse,
              compared,
              worse.isEmpty() ? "" : " (not in " + String.join(", ", worse) + ")"));
    } else {
      text.append("What it shows: run no-retries, grpc-builtin and grpc-retry to compare them.");
    }
    double naiveWorst = worstAmplification(results, Setup.NAIVE);
    double oursWorst = worstAmplification(results, Setup.GRPC_RETRY);
    if (!Double.isNaN(naiveWorst) && !Double.isNaN(oursWorst)) {
      text.append(
          String.format(
              Locale.ROOT,
              "%nNaive retries multiplied the load during a trigger by up to %s; grpc-retry's"
                  + " budget kept it at or below %s.",
              ratio(naiveWorst),
              ratio(oursWorst)));
    }
    return text.toString();
  }

  private static double worstAmplification(List<SetupResult> results, Setup setup) {
    return results.stream()
        .filter(r -> r.setup() == setup && r.scenario().hasTrigger())
        .mapToDouble(SetupResult::amplificationDuringTrigger)
        .max()
        .orElse(Double.NaN);
  }

  static @Nullable SetupResult find(List<SetupResult> results, Scenario scenario, Setup setup) {
    for (SetupResult r : results) {
      if (r.scenario() == scenario && r.setup() == setup) {
        return r;
      }
    }
    return null;
  }

  private static void grid(
      StringBuilder t,
      String title,
      List<Scenario> scenarios,
      List<Setup> setups,
      List<SetupResult> results,
      Function<SetupResult, String> cell) {
    t.append(title).append(":\n");
    StringBuilder header = new StringBuilder(String.format(Locale.ROOT, "  %-13s", "scenario"));
    for (Setup s : setups) {
      header.append(String.format(Locale.ROOT, " %" + width(s) + "s", s.cliName()));
    }
    t.append(header.toString().stripTrailing()).append('\n');
    for (Scenario sc : scenarios) {
      StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "  %-13s", sc.cliName()));
      for (Setup s : setups) {
        SetupResult r = find(results, sc, s);
        row.append(String.format(Locale.ROOT, " %" + width(s) + "s", r == null ? "-" : cell.apply(r)));
      }
      t.append(row.toString().stripTrailing()).append('\n');
    }
    t.append('\n');
  }

  private static int width(Setup s) {
    return Math.max(8, s.cliName().length());
  }

  static String ratio(double value) {
    return String.format(Locale.ROOT, "%.2f", value);
  }

  static String percent(double share) {
    return String.format(Locale.ROOT, "%.1f%%", share * 100);
  }

  /** Nanoseconds as whole milliseconds, or "n/a" for -1 (no successful call). */
  static String millis(long nanos) {
    return nanos < 0 ? "n/a" : String.format(Locale.ROOT, "%d ms", Math.round(nanos / 1e6));
  }

  /** Nanoseconds as milliseconds with three decimals, or "n/a" for -1. */
  static String micros(long nanos) {
    return nanos < 0 ? "n/a" : String.format(Locale.ROOT, "%.3f ms", nanos / 1e6);
  }

  static String recovery(long millis, LabOptions o) {
    if (millis == SetupResult.NO_TRIGGER) {
      return "n/a (no trigger)";
    }
    if (millis >= 0) {
      return LabOptions.secondsText(millis) + " s";
    }
    return "did not recover (within the "
        + LabOptions.secondsText(o.durationMillis() - o.triggerEndMillis())
        + " s after it)";
  }

  /** Recovery for a matrix cell: seconds, "never" or "-". */
  static String shortRecovery(long millis) {
    if (millis == SetupResult.NO_TRIGGER) {
      return "-";
    }
    return millis >= 0 ? LabOptions.secondsText(millis) + " s" : "never";
  }

  static String decimal(double value) {
    return value == Math.rint(value)
        ? String.format(Locale.ROOT, "%d", (long) value)
        : String.format(Locale.ROOT, "%.1f", value);
  }

  static String failures(Map<Status.Code, Long> failures, int unfinished) {
    String text =
        failures.isEmpty()
            ? "none"
            : failures.entrySet().stream()
                .map(e -> e.getKey() + " " + e.getValue())
                .collect(Collectors.joining(", "));
    return unfinished == 0 ? text : text + ", not ended " + unfinished;
  }
}
