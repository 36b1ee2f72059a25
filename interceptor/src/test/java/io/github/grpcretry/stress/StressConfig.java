package io.github.grpcretry.stress;

import java.security.SecureRandom;
import java.time.Duration;

/**
 * The size and bounds of one run. {@link #fromSystemProperties()} reads the flags documented on
 * {@link RandomizedStressTest}; everything else is fixed here, in code.
 *
 * <p>Thread-safe: immutable.
 */
final class StressConfig {
  static final String SEED = "grpcretry.stress.seed";
  static final String CALLS = "grpcretry.stress.calls";
  static final String CONCURRENCY = "grpcretry.stress.concurrency";
  static final String ONLY = "grpcretry.stress.only";
  static final String SAMPLES = "grpcretry.stress.samples";

  static final int DEFAULT_CALLS = 3000;
  static final int DEFAULT_CONCURRENCY = 48;

  final long seed;
  final int calls;
  final int concurrency;
  /** Plan every call after this index (-1: each call its own index). */
  final int only;
  final FeatureMix mix;
  /** A call with a deadline counts as late when unclosed this long after it (plus the lag). */
  final Duration lateMargin = Duration.ofMillis(250);
  /** After this long past its deadline, the harness cancels a late call. */
  final Duration lateCancelAfter = Duration.ofSeconds(2);
  /** A call without deadline counts as hung when unclosed this long after it was last driven. */
  final Duration hungAfter = Duration.ofSeconds(10);
  /** After cancelling a call that does not end, how long the harness still waits for onClose. */
  final Duration giveUpAfter = Duration.ofSeconds(2);
  /** How long after onClose a call is checked: late callbacks and attempt starts show up first. */
  final Duration settle = Duration.ofMillis(50);
  /** How long the end of the run waits for server attempts to end. */
  final Duration serverWait = Duration.ofSeconds(10);
  /** How long the end of the run waits for the thread count to come back down. */
  final Duration threadWait = Duration.ofSeconds(20);
  /** Threads allowed above the count before the run (lazily created JVM/library threads). */
  final int threadMargin = 4;
  /** Violations per invariant whose full description is kept (and printed to the output). */
  final int samplesPerInvariant;
  /** Full descriptions in the failure message. */
  final int samplesInFailure = 8;

  StressConfig(long seed, int calls, int concurrency, int only, int samples, FeatureMix mix) {
    if (calls < 1) {
      throw new IllegalArgumentException(CALLS + " must be >= 1: " + calls);
    }
    if (concurrency < 1) {
      throw new IllegalArgumentException(CONCURRENCY + " must be >= 1: " + concurrency);
    }
    this.seed = seed;
    this.calls = calls;
    this.concurrency = concurrency;
    this.only = only;
    this.samplesPerInvariant = samples;
    this.mix = mix;
  }

  static StressConfig fromSystemProperties() {
    String seedText = System.getProperty(SEED, "").trim();
    long seed = seedText.isEmpty() ? new SecureRandom().nextLong() : Long.parseLong(seedText);
    int calls = Integer.parseInt(System.getProperty(CALLS, Integer.toString(DEFAULT_CALLS)).trim());
    int concurrency =
        Integer.parseInt(
            System.getProperty(CONCURRENCY, Integer.toString(DEFAULT_CONCURRENCY)).trim());
    int only = Integer.parseInt(System.getProperty(ONLY, "-1").trim());
    int samples = Integer.parseInt(System.getProperty(SAMPLES, "3").trim());
    return new StressConfig(seed, calls, concurrency, only, samples, FeatureMix.defaults());
  }

  /** How to run exactly this again. */
  String reproduce() {
    return "-D" + SEED + "=" + seed + " -D" + CALLS + "=" + calls
        + (concurrency != DEFAULT_CONCURRENCY ? " -D" + CONCURRENCY + "=" + concurrency : "")
        + (only >= 0 ? " -D" + ONLY + "=" + only : "");
  }

  String headline() {
    return "seed=" + seed + " calls=" + calls;
  }
}
