package io.github.grpcretry.stress;

import java.util.Map;

/** What a run found: its figures and violations, as text for the output and the failure. */
record StressReport(
    StressConfig config,
    Violations violations,
    Figures figures,
    String logs,
    long wallNanos,
    long maxWatchdogLagNanos,
    long launched) {

  String render() {
    return "RandomizedStressTest finished: "
        + config.headline()
        + ", "
        + launched
        + " calls launched, wall time "
        + String.format("%.1f s", wallNanos / 1e9)
        + ", worst watchdog lag "
        + EventClock.millis(maxWatchdogLagNanos)
        + "\n  reproduce with: "
        + config.reproduce()
        + "\nFigures:\n"
        + figures.render()
        + "Log records from gRPC and the interceptor (WARNING and above):\n"
        + logs
        + "Invariants:\n"
        + violations.summary();
  }

  boolean failed() {
    return violations.total() > 0;
  }

  String failureMessage() {
    StringBuilder sb = new StringBuilder();
    sb.append(violations.total()).append(" violation(s) in ").append(launched).append(" calls [");
    sb.append(config.headline()).append("]; reproduce with ").append(config.reproduce()).append('\n');
    for (Map.Entry<Invariant, Long> e : violations.counts().entrySet()) {
      sb.append("  ").append(e.getKey().label()).append(": ").append(e.getValue());
      sb.append("  (").append(e.getKey().rule).append(")\n");
    }
    sb.append("First violations of each kind, in full:\n");
    sb.append(violations.describeSamples(config.samplesInFailure));
    return sb.toString();
  }
}
