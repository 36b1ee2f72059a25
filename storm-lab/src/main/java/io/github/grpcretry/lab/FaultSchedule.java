package io.github.grpcretry.lab;

/**
 * When one server is healthy and what it does wrong: healthy until {@code triggerStart}, faulty as
 * its scenario says until {@code triggerEnd}, healthy again after it; a slow replica is slow
 * throughout.
 *
 * <p>Immutable and thread-safe.
 */
final class FaultSchedule {
  private final Scenario scenario;
  private final long triggerStartNanos;
  private final long triggerEndNanos;
  private final double slowdown;
  private final double transientFailureShare;
  /** Service time multiplier for the whole run: the slow replica's, else 1. */
  private final double permanentSlowdown;

  private FaultSchedule(
      Scenario scenario,
      long triggerStartNanos,
      long triggerEndNanos,
      double slowdown,
      double transientFailureShare,
      double permanentSlowdown) {
    this.scenario = scenario;
    this.triggerStartNanos = triggerStartNanos;
    this.triggerEndNanos = triggerEndNanos;
    this.slowdown = slowdown;
    this.transientFailureShare = transientFailureShare;
    this.permanentSlowdown = permanentSlowdown;
  }

  /**
   * The schedule of replica {@code replica} (0 to {@code scenario.replicas() - 1}) in {@code
   * scenario}; replica 0 of {@link Scenario#SLOW_REPLICA} is the slow one.
   */
  static FaultSchedule of(LabOptions options, Scenario scenario, int replica) {
    long start = options.triggerStartMillis() * 1_000_000L;
    return new FaultSchedule(
        scenario,
        start,
        start + options.triggerMillis() * 1_000_000L,
        options.slowdown(),
        options.transientPercent() / 100.0,
        scenario == Scenario.SLOW_REPLICA && replica == 0 ? Scenario.SLOW_REPLICA_FACTOR : 1);
  }

  /** A server that never fails and never slows down, for the warm-up. */
  static FaultSchedule alwaysHealthy() {
    return new FaultSchedule(Scenario.TRANSIENT, Long.MAX_VALUE, Long.MAX_VALUE, 1, 0, 1);
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

  /** Whether the trigger is on; always false in a scenario without one. */
  boolean inTrigger(long elapsedNanos) {
    return scenario.hasTrigger()
        && elapsedNanos >= triggerStartNanos
        && elapsedNanos < triggerEndNanos;
  }

  /**
   * Whether an attempt that arrives at {@code elapsedNanos} fails at once with UNAVAILABLE because
   * of the trigger: every one in an outage, half of them (at random) in a brownout.
   *
   * @param draw a uniform random number in [0, 1)
   */
  boolean failsFast(long elapsedNanos, double draw) {
    if (!inTrigger(elapsedNanos)) {
      return false;
    }
    return scenario == Scenario.OUTAGE
        || (scenario == Scenario.BROWNOUT && draw < Scenario.BROWNOUT_SHARE);
  }

  /**
   * Whether an attempt that arrives at {@code elapsedNanos}, with {@code queued} calls already
   * waiting for one of {@code workers} workers, is shed with RESOURCE_EXHAUSTED and a pushback: in
   * {@link Scenario#SHEDDING}'s trigger, when it would wait longer than one service time.
   */
  boolean sheds(long elapsedNanos, int queued, int workers) {
    return scenario == Scenario.SHEDDING && inTrigger(elapsedNanos) && queued >= workers;
  }

  /** How long the work of a call that a worker starts at {@code elapsedNanos} takes. */
  long serviceNanos(long elapsedNanos, long normalServiceNanos) {
    double factor = permanentSlowdown;
    if ((scenario == Scenario.LATENCY || scenario == Scenario.SHEDDING)
        && inTrigger(elapsedNanos)) {
      factor *= slowdown;
    }
    return Math.round(normalServiceNanos * factor);
  }

  /** The largest service time multiplier this server ever applies, to bound its queue's drain. */
  double worstSlowdown() {
    return permanentSlowdown
        * (scenario == Scenario.LATENCY || scenario == Scenario.SHEDDING ? slowdown : 1);
  }
}
