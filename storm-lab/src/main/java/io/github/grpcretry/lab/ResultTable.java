package io.github.grpcretry.lab;

import io.github.grpcretry.BudgetStats;
import io.grpc.Status;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The plain-text tables the lab prints, and the formatting of figures that the HTML report shares.
 *
 * <p>Pure functions; thread-safe.
 */
final class ResultTable {
  private ResultTable() {}

  /** One line describing the server, the load and the trigger. */
  static String describeRun(LabOptions o) {
    double capacity = o.capacityPerSecond();
    String trigger =
        o.scenario() == Scenario.LATENCY
            ? String.format(
                Locale.ROOT,
                "service time x%s (capacity %s calls/s)",
                LabOptions.secondsText(Math.round(o.slowdown() * 1000)),
                decimal(capacity / o.slowdown()))
            : "every call fails fast with UNAVAILABLE";
    return String.format(
        Locale.ROOT,
        "Server: %d workers, queue %d, %d ms per call: capacity %s calls/s; %s%% of attempts fail"
            + " with UNAVAILABLE at random.%n"
            + "Load: %d calls/s (%.0f%% of capacity), deadline %d ms, attempt timeout %d ms.%n"
            + "Trigger (%s): %s, from %s s to %s s of each %s s run.",
        o.workers(),
        o.queue(),
        o.serviceMillis(),
        decimal(capacity),
        decimal(o.transientPercent()),
        o.rate(),
        100.0 * o.rate() / capacity,
        o.deadlineMillis(),
        o.perAttemptTimeoutMillis(),
        o.scenario().cliName(),
        trigger,
        LabOptions.secondsText(o.triggerStartMillis()),
        LabOptions.secondsText(o.triggerEndMillis()),
        LabOptions.secondsText(o.durationMillis()));
  }

  /** The table of one set-up: every figure the lab measured for it. */
  static String setupTable(SetupResult r, LabOptions o) {
    StringBuilder t = new StringBuilder();
    t.append(r.setup().label()).append(" (").append(r.setup().description()).append(")\n");
    row(t, "offered calls", Integer.toString(r.offered()));
    row(t, "attempts the server saw", Long.toString(r.serverAttempts()));
    row(t, "amplification, overall", ratio(r.amplification()));
    row(
        t,
        "amplification, during the trigger",
        ratio(r.amplificationDuringTrigger())
            + String.format(
                Locale.ROOT,
                "  (%d attempts / %d calls)",
                r.serverAttemptsDuringTrigger(),
                r.offeredDuringTrigger()));
    row(t, "success rate", percent(r.successRate()));
    row(t, "success rate of calls due before it", percent(r.successRateBeforeTrigger()));
    row(t, "latency of successes, p50 / p99", millis(r.p50Nanos()) + " / " + millis(r.p99Nanos()));
    row(t, "goodput back after the trigger", recovery(r.recoveryMillis(), o));
    row(
        t,
        "server: answered / wasted",
        r.answered() + " / " + r.wasted() + "  (wasted: worked on after the client gave up)");
    row(
        t,
        "server: rejected/outage/transient",
        r.rejected() + " / " + r.failedFast() + " / " + r.failedTransiently());
    row(t, "failed calls", failures(r.failures(), r.unfinished()));
    BudgetStats budget = r.budget();
    if (budget != null) {
      row(
          t,
          "budget: retries granted / refused",
          budget.granted()
              + " / "
              + budget.refused()
              + String.format(
                  Locale.ROOT,
                  "  (tokens at the end: %s of %s)",
                  decimal(budget.availableTokens()),
                  decimal(budget.maxTokens())));
    }
    return t.toString();
  }

  /** One row per set-up with the figures that tell them apart. */
  static String summary(List<SetupResult> results, LabOptions o) {
    String format = "%-31s %8s %6s %9s %8s %8s %7s %7s  %s%n";
    StringBuilder t = new StringBuilder();
    t.append(
        String.format(
            Locale.ROOT,
            format,
            "set-up",
            "attempts",
            "ampl.",
            "ampl.@trg",
            "success",
            "@healthy",
            "p50",
            "p99",
            "goodput back after the trigger"));
    for (SetupResult r : results) {
      t.append(
          String.format(
              Locale.ROOT,
              format,
              r.setup().label(),
              r.serverAttempts(),
              ratio(r.amplification()),
              ratio(r.amplificationDuringTrigger()),
              percent(r.successRate()),
              percent(r.successRateBeforeTrigger()),
              millis(r.p50Nanos()),
              millis(r.p99Nanos()),
              recovery(r.recoveryMillis(), o)));
    }
    return t.toString();
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

  static String recovery(long millis, LabOptions o) {
    if (millis >= 0) {
      return LabOptions.secondsText(millis) + " s";
    }
    return "did not recover (within the "
        + LabOptions.secondsText(o.durationMillis() - o.triggerEndMillis())
        + " s after it)";
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

  private static void row(StringBuilder t, String name, String value) {
    t.append(String.format(Locale.ROOT, "  %-36s %s%n", name, value));
  }
}
