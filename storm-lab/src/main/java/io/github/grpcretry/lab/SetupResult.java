package io.github.grpcretry.lab;

import io.github.grpcretry.BudgetStats;
import io.grpc.Status;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What one set-up's run did: to the callers (offered calls, successes, latency, recovery) and to
 * the server (attempts, wasted work), in totals and per {@link Recovery#BUCKET_MILLIS} bucket.
 *
 * <p>Immutable.
 */
final class SetupResult {
  /** How long into an outage before the server's share of offered calls is measured. */
  static final long SETTLE_MILLIS = 1000;

  private final Scenario scenario;
  private final Setup setup;
  private final int offered;
  private final int offeredDuringTrigger;
  private final int succeededDuringTrigger;
  private final int offeredBeforeTrigger;
  private final int succeededBeforeTrigger;
  private final int succeeded;
  private final int unfinished;
  private final Map<Status.Code, Long> failures;
  private final LabServer.ServerCounts server;
  private final long p50Nanos;
  private final long p99Nanos;
  private final long recoveryMillis;
  private final long[] successesPerBucket;
  private final @Nullable BudgetStats budget;
  private final double serverShareAfterSettling;
  private final int rejectedLocally;
  private final long localRejectionP99Nanos;
  private final long localRejectionMaxNanos;
  private final long sendLagP99Nanos;

  private SetupResult(
      Scenario scenario,
      Setup setup,
      int offered,
      int offeredDuringTrigger,
      int succeededDuringTrigger,
      int offeredBeforeTrigger,
      int succeededBeforeTrigger,
      int succeeded,
      int unfinished,
      Map<Status.Code, Long> failures,
      LabServer.ServerCounts server,
      long p50Nanos,
      long p99Nanos,
      long recoveryMillis,
      long[] successesPerBucket,
      @Nullable BudgetStats budget,
      double serverShareAfterSettling,
      int rejectedLocally,
      long localRejectionP99Nanos,
      long localRejectionMaxNanos,
      long sendLagP99Nanos) {
    this.scenario = scenario;
    this.setup = setup;
    this.offered = offered;
    this.offeredDuringTrigger = offeredDuringTrigger;
    this.succeededDuringTrigger = succeededDuringTrigger;
    this.offeredBeforeTrigger = offeredBeforeTrigger;
    this.succeededBeforeTrigger = succeededBeforeTrigger;
    this.succeeded = succeeded;
    this.unfinished = unfinished;
    this.failures = failures;
    this.server = server;
    this.p50Nanos = p50Nanos;
    this.p99Nanos = p99Nanos;
    this.recoveryMillis = recoveryMillis;
    this.successesPerBucket = successesPerBucket;
    this.budget = budget;
    this.serverShareAfterSettling = serverShareAfterSettling;
    this.rejectedLocally = rejectedLocally;
    this.localRejectionP99Nanos = localRejectionP99Nanos;
    this.localRejectionMaxNanos = localRejectionMaxNanos;
    this.sendLagP99Nanos = sendLagP99Nanos;
  }

  /**
   * Computes the results of a finished run.
   *
   * @param buckets how many buckets the run spans (the server counted attempts in as many)
   */
  static SetupResult of(
      Scenario scenario,
      Setup setup,
      LabOptions options,
      CallLog calls,
      LabServer.ServerCounts server,
      int buckets,
      @Nullable BudgetStats budget) {
    long bucketNanos = Recovery.BUCKET_MILLIS * 1_000_000L;
    // Without a trigger, "during the trigger" is the whole run.
    long triggerStart = scenario.hasTrigger() ? options.triggerStartMillis() * 1_000_000L : 0;
    long triggerEnd =
        scenario.hasTrigger() ? options.triggerEndMillis() * 1_000_000L : Long.MAX_VALUE;
    long settled = triggerStart + SETTLE_MILLIS * 1_000_000L;
    long[] successesPerBucket = new long[buckets];
    long[] latencies = new long[calls.size()];
    long[] localRejections = new long[calls.size()];
    long[] sendLags = new long[calls.size()];
    Map<Status.Code, Long> failures = new EnumMap<>(Status.Code.class);
    int succeeded = 0;
    int unfinished = 0;
    int rejectedLocally = 0;
    int offeredDuringTrigger = 0;
    int succeededDuringTrigger = 0;
    int offeredBeforeTrigger = 0;
    int succeededBeforeTrigger = 0;
    int offeredAfterSettling = 0;
    for (int i = 0; i < calls.size(); i++) {
      long due = calls.scheduledNanos(i);
      Status.Code code = calls.code(i);
      sendLags[i] = calls.sentNanos(i) - due;
      if (due >= triggerStart && due < triggerEnd) {
        offeredDuringTrigger++;
        if (code == Status.Code.OK) {
          succeededDuringTrigger++;
        }
        if (due >= settled) {
          offeredAfterSettling++;
        }
      } else if (due < triggerStart) {
        offeredBeforeTrigger++;
        if (code == Status.Code.OK) {
          succeededBeforeTrigger++;
        }
      }
      if (code == null) {
        unfinished++;
      } else if (code == Status.Code.OK) {
        latencies[succeeded++] = calls.endedNanos(i) - due;
        long bucket = calls.endedNanos(i) / bucketNanos;
        if (bucket >= 0 && bucket < buckets) {
          successesPerBucket[(int) bucket]++;
        }
      } else {
        failures.merge(code, 1L, Long::sum);
        if (calls.rejectedLocally(i)) {
          localRejections[rejectedLocally++] = calls.endedNanos(i) - calls.sentNanos(i);
        }
      }
    }
    Arrays.sort(latencies, 0, succeeded);
    Arrays.sort(localRejections, 0, rejectedLocally);
    Arrays.sort(sendLags);
    double shareAfterSettling = Double.NaN;
    if (scenario.hasTrigger() && offeredAfterSettling > 0) {
      // The server's buckets are as wide as the load's; the share counts whole buckets only.
      int from = (int) ((settled + bucketNanos - 1) / bucketNanos);
      int to = (int) Math.min(buckets, triggerEnd / bucketNanos);
      long attempts = 0;
      for (int b = from; b < to; b++) {
        attempts += server.attemptsPerBucket()[b];
      }
      double offeredThere = (to - from) * bucketNanos / 1e9 * options.rate();
      shareAfterSettling = to > from ? attempts / offeredThere : Double.NaN;
    }
    return new SetupResult(
        scenario,
        setup,
        calls.size(),
        offeredDuringTrigger,
        succeededDuringTrigger,
        offeredBeforeTrigger,
        succeededBeforeTrigger,
        succeeded,
        unfinished,
        Collections.unmodifiableMap(failures),
        server,
        percentile(latencies, succeeded, 0.50),
        percentile(latencies, succeeded, 0.99),
        scenario.hasTrigger()
            ? Recovery.millisToRecover(
                successesPerBucket, options.rate(), options.triggerEndMillis())
            : NO_TRIGGER,
        successesPerBucket,
        budget,
        shareAfterSettling,
        rejectedLocally,
        percentile(localRejections, rejectedLocally, 0.99),
        rejectedLocally == 0 ? -1 : localRejections[rejectedLocally - 1],
        percentile(sendLags, sendLags.length, 0.99));
  }

  /** Nearest-rank percentile of the first {@code n} sorted values; -1 if {@code n == 0}. */
  static long percentile(long[] sorted, int n, double p) {
    if (n == 0) {
      return -1;
    }
    int rank = (int) Math.ceil(p * n);
    return sorted[Math.max(0, Math.min(n - 1, rank - 1))];
  }

  /** {@link #recoveryMillis} of a scenario without a trigger. */
  static final long NO_TRIGGER = -2;

  Scenario scenario() {
    return scenario;
  }

  Setup setup() {
    return setup;
  }

  /** Calls the clients sent, one per schedule slot. */
  int offered() {
    return offered;
  }

  /** Calls that were due while the trigger was on. */
  int offeredDuringTrigger() {
    return offeredDuringTrigger;
  }

  int succeeded() {
    return succeeded;
  }

  /** Calls that had not ended when the load stopped waiting for them (none, normally). */
  int unfinished() {
    return unfinished;
  }

  /** Failed calls by final status code. */
  Map<Status.Code, Long> failures() {
    return failures;
  }

  /** Calls that ended, successful or not. */
  long completed() {
    return offered - unfinished;
  }

  /** Attempts the server received, retries and rejected ones included. */
  long serverAttempts() {
    return server.attempts();
  }

  /** Attempts the server received while the trigger was on (all of them without a trigger). */
  long serverAttemptsDuringTrigger() {
    return scenario.hasTrigger() ? server.attemptsDuringTrigger() : server.attempts();
  }

  /** Server attempts per offered call. */
  double amplification() {
    return offered == 0 ? 0 : (double) server.attempts() / offered;
  }

  /**
   * Server attempts received during the trigger per call due during it; over the whole run in a
   * scenario without a trigger.
   */
  double amplificationDuringTrigger() {
    return offeredDuringTrigger == 0 ? 0 : (double) serverAttemptsDuringTrigger() / offeredDuringTrigger;
  }

  /** Successful calls per call due during the trigger (the whole run without a trigger). */
  double successRateDuringTrigger() {
    return offeredDuringTrigger == 0 ? 0 : (double) succeededDuringTrigger / offeredDuringTrigger;
  }

  /**
   * Attempts the server saw per offered call from {@link #SETTLE_MILLIS} into the trigger until
   * its end; NaN without a trigger or if the trigger is not longer than that.
   */
  double serverShareAfterSettling() {
    return serverShareAfterSettling;
  }

  /** Calls that failed because the client's breaker did not send them. */
  int rejectedLocally() {
    return rejectedLocally;
  }

  /** 99th percentile of how long a locally rejected call took to fail, from when it was sent. */
  long localRejectionP99Nanos() {
    return localRejectionP99Nanos;
  }

  /** The longest a locally rejected call took to fail; -1 if none was. */
  long localRejectionMaxNanos() {
    return localRejectionMaxNanos;
  }

  /**
   * 99th percentile of how late the load sent a call after it was due: large only when the machine
   * starves the load's thread, which then distorts every figure of the run.
   */
  long sendLagP99Nanos() {
    return sendLagP99Nanos;
  }

  /** Attempts the server shed with a pushback. */
  long shed() {
    return server.shed();
  }

  /** Successful calls per offered call, in [0, 1]. */
  double successRate() {
    return offered == 0 ? 0 : (double) succeeded / offered;
  }

  /**
   * Successful calls per call due before the trigger, when the only failures are the transient
   * ones: what retries are for. 0 if no call was due before the trigger.
   */
  double successRateBeforeTrigger() {
    return offeredBeforeTrigger == 0 ? 0 : (double) succeededBeforeTrigger / offeredBeforeTrigger;
  }

  /** Median latency of successful calls, from when each was due; -1 if none succeeded. */
  long p50Nanos() {
    return p50Nanos;
  }

  /** 99th percentile latency of successful calls; -1 if none succeeded. */
  long p99Nanos() {
    return p99Nanos;
  }

  /**
   * Time from the trigger's end until goodput was back (see {@link Recovery}); -1 if never,
   * {@link #NO_TRIGGER} in a scenario without a trigger.
   */
  long recoveryMillis() {
    return recoveryMillis;
  }

  /** Calls the server rejected because its queue was full. */
  long rejected() {
    return server.rejected();
  }

  /** Calls the server failed at once because of the outage. */
  long failedFast() {
    return server.failedFast();
  }

  /** Attempts the server failed at once with a transient UNAVAILABLE. */
  long failedTransiently() {
    return server.failedTransiently();
  }

  /** Calls the server worked on and answered to a client that still waited. */
  long answered() {
    return server.answered();
  }

  /** Calls the server worked on for a client that had already given up. */
  long wasted() {
    return server.wasted();
  }

  /** Successful calls per second, per bucket, by when they ended. */
  double[] goodputPerSecond() {
    return perSecond(successesPerBucket);
  }

  /** Attempts the server received per second, per bucket. */
  double[] attemptsPerSecond() {
    return perSecond(server.attemptsPerBucket());
  }

  /** The state of the set-up's retry budget at the end, if it has one that reports it. */
  @Nullable BudgetStats budget() {
    return budget;
  }

  private static double[] perSecond(long[] perBucket) {
    double[] rates = new double[perBucket.length];
    for (int i = 0; i < rates.length; i++) {
      rates[i] = perBucket[i] * 1000.0 / Recovery.BUCKET_MILLIS;
    }
    return rates;
  }
}
