package io.github.grpcretry.lab;

/**
 * When the server is healthy and what it does wrong during the trigger: healthy until {@code
 * triggerStart}, faulty until {@code triggerEnd}, healthy again after it.
 *
 * <p>Immutable and thread-safe.
 */
final class FaultSchedule {
  private final Scenario scenario;
  private final long triggerStartNanos;
  private final long triggerEndNanos;
  private final double slowdown;
  private final double transientFailureShare;

  private FaultSchedule(
      Scenario scenario,
      long triggerStartNanos,
      long triggerEndNanos,
      double slowdown,
      double transientFailureShare) {
    this.scenario = scenario;
    this.triggerStartNanos = triggerStartNanos;
    this.triggerEndNanos = triggerEndNanos;
    this.slowdown = slowdown;
    this.transientFailureShare = transientFailureShare;
  }

  /** The schedule the options describe. */
  static FaultSchedule of(LabOptions options) {
    long start = options.triggerStartMillis() * 1_000_000L;
    return new FaultSchedule(
        options.scenario(),
        start,
        start + options.triggerMillis() * 1_000_000L,
        options.slowdown(),
        options.transientPercent() / 100.0);
  }

  /** A server that never fails and never slows down, for the warm-up. */
  static FaultSchedule alwaysHealthy() {
    return new FaultSchedule(Scenario.LATENCY, Long.MAX_VALUE, Long.MAX_VALUE, 1, 0);
  }

  /**
   * Whether an attempt fails at once with UNAVAILABLE for no reason of its own, as on a flaky
   * network path; independent of every other attempt, at any time.
   *
   * @param draw a uniform random number in [0, 1)
   */
  boolean failsTransiently(double draw) {
    return draw < transientFailureShare;
  }

  boolean inTrigger(long elapsedNanos) {
    return elapsedNanos >= triggerStartNanos && elapsedNanos < triggerEndNanos;
  }

  /** Whether a call that arrives at {@code elapsedNanos} fails at once with UNAVAILABLE. */
  boolean failsFast(long elapsedNanos) {
    return scenario == Scenario.OUTAGE && inTrigger(elapsedNanos);
  }

  /** How long the work of a call that a worker starts at {@code elapsedNanos} takes. */
  long serviceNanos(long elapsedNanos, long normalServiceNanos) {
    return scenario == Scenario.LATENCY && inTrigger(elapsedNanos)
        ? Math.round(normalServiceNanos * slowdown)
        : normalServiceNanos;
  }
}
