package io.github.grpcretry.stress;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How often each feature appears in the random calls: the share of calls that are hedged, have a
 * deadline, are cancelled, read slowly, run into misbehaving user code, and the weights of the
 * server's behaviours. {@link #defaults()} exercises all of them; tests or a debugging session may
 * turn some off, for example {@code FeatureMix.newBuilder().listenerThrows(0).build()}.
 *
 * <p>Shares are probabilities in [0, 1], drawn independently per call (or per attempt for the
 * server's behaviour). Thread-safe: immutable.
 */
final class FeatureMix {
  final double hedging;
  final double perAttemptTimeout;
  final double deadline;
  final double deadlineFromPolicy;
  final double deadlineFromContext;
  final double appCancel;
  final double contextCancel;
  final double slowReader;
  final double onReadySender;
  final double listenerThrows;
  final double classifierThrows;
  final double budgetSlow;
  final double budgetThrows;
  final double serverSucceeds;
  final double serverFailsBeforeHeaders;
  final double serverFailsAfterHeaders;
  final double serverFailsAfterMessages;
  final double serverHangs;
  final double serverSlow;
  final double nonRetryableCode;
  final double pushback;
  final double badPushback;
  final double retryInfo;
  final double listener;
  final double listenerMisbehaves;
  final double breaker;
  final double breakerMisbehaves;
  final double idempotencyKey;

  private FeatureMix(Builder b) {
    Map<String, Double> v = b.values;
    hedging = v.get("hedging");
    perAttemptTimeout = v.get("perAttemptTimeout");
    deadline = v.get("deadline");
    deadlineFromPolicy = v.get("deadlineFromPolicy");
    deadlineFromContext = v.get("deadlineFromContext");
    appCancel = v.get("appCancel");
    contextCancel = v.get("contextCancel");
    slowReader = v.get("slowReader");
    onReadySender = v.get("onReadySender");
    listenerThrows = v.get("listenerThrows");
    classifierThrows = v.get("classifierThrows");
    budgetSlow = v.get("budgetSlow");
    budgetThrows = v.get("budgetThrows");
    serverSucceeds = v.get("serverSucceeds");
    serverFailsBeforeHeaders = v.get("serverFailsBeforeHeaders");
    serverFailsAfterHeaders = v.get("serverFailsAfterHeaders");
    serverFailsAfterMessages = v.get("serverFailsAfterMessages");
    serverHangs = v.get("serverHangs");
    serverSlow = v.get("serverSlow");
    nonRetryableCode = v.get("nonRetryableCode");
    pushback = v.get("pushback");
    badPushback = v.get("badPushback");
    retryInfo = v.get("retryInfo");
    listener = v.get("listener");
    listenerMisbehaves = v.get("listenerMisbehaves");
    breaker = v.get("breaker");
    breakerMisbehaves = v.get("breakerMisbehaves");
    idempotencyKey = v.get("idempotencyKey");
    this.text = v.toString();
  }

  private final String text;

  /** The mix CI runs: every feature present, none dominating. */
  static FeatureMix defaults() {
    return newBuilder().build();
  }

  static Builder newBuilder() {
    return new Builder();
  }

  @Override
  public String toString() {
    return "FeatureMix" + text;
  }

  /** Builds a {@link FeatureMix}, starting from the defaults. Not thread-safe. */
  static final class Builder {
    private final Map<String, Double> values = new LinkedHashMap<>();

    private Builder() {
      // Calls.
      values.put("hedging", 0.3); // of calls of safe or idempotent methods
      values.put("perAttemptTimeout", 0.35); // of retry policies
      values.put("deadline", 0.5);
      values.put("deadlineFromPolicy", 0.15); // of deadlines: RetryPolicy/HedgingPolicy.timeout
      values.put("deadlineFromContext", 0.15); // of deadlines: Context.withDeadlineAfter
      values.put("appCancel", 0.12);
      values.put("contextCancel", 0.08);
      values.put("slowReader", 0.2);
      values.put("onReadySender", 0.5); // of client and bidi streams; half of them wait for onReady
      values.put("listenerThrows", 0.03);
      values.put("classifierThrows", 0.03);
      values.put("budgetSlow", 0.03);
      values.put("budgetThrows", 0.02);
      // The server, per attempt: weights of its behaviours (normalized), then modifiers.
      values.put("serverSucceeds", 0.35);
      values.put("serverFailsBeforeHeaders", 0.30);
      values.put("serverFailsAfterHeaders", 0.10);
      values.put("serverFailsAfterMessages", 0.10);
      values.put("serverHangs", 0.08);
      values.put("serverSlow", 0.2);
      values.put("nonRetryableCode", 0.3); // of errors
      values.put("pushback", 0.1); // of errors
      values.put("badPushback", 0.05); // of errors
      values.put("retryInfo", 0.08); // of errors
      // The newer features, drawn from a stream of their own.
      values.put("listener", 0.3);
      values.put("listenerMisbehaves", 0.3); // of calls with listeners: half throw, half slow
      values.put("breaker", 0.3);
      values.put("breakerMisbehaves", 0.3); // of calls with a breaker: slow, refuses or throws
      values.put("idempotencyKey", 0.25);
    }

    private Builder set(String name, double value) {
      if (!(value >= 0 && value <= 1)) {
        throw new IllegalArgumentException(name + " must be a share in [0, 1]: " + value);
      }
      values.put(name, value);
      return this;
    }

    Builder hedging(double share) {
      return set("hedging", share);
    }

    Builder perAttemptTimeout(double share) {
      return set("perAttemptTimeout", share);
    }

    Builder deadline(double share) {
      return set("deadline", share);
    }

    Builder appCancel(double share) {
      return set("appCancel", share);
    }

    Builder contextCancel(double share) {
      return set("contextCancel", share);
    }

    Builder slowReader(double share) {
      return set("slowReader", share);
    }

    Builder onReadySender(double share) {
      return set("onReadySender", share);
    }

    Builder listenerThrows(double share) {
      return set("listenerThrows", share);
    }

    Builder classifierThrows(double share) {
      return set("classifierThrows", share);
    }

    Builder budgetSlow(double share) {
      return set("budgetSlow", share);
    }

    Builder budgetThrows(double share) {
      return set("budgetThrows", share);
    }

    Builder serverHangs(double weight) {
      return set("serverHangs", weight);
    }

    Builder serverSlow(double share) {
      return set("serverSlow", share);
    }

    Builder listener(double share) {
      return set("listener", share);
    }

    Builder listenerMisbehaves(double share) {
      return set("listenerMisbehaves", share);
    }

    Builder breaker(double share) {
      return set("breaker", share);
    }

    Builder breakerMisbehaves(double share) {
      return set("breakerMisbehaves", share);
    }

    Builder idempotencyKey(double share) {
      return set("idempotencyKey", share);
    }

    /**
     * Turns off every kind of misbehaving user code: throwing application listener, classifier,
     * budget, retry listener and breaker.
     */
    Builder wellBehavedUserCode() {
      return listenerThrows(0)
          .classifierThrows(0)
          .budgetSlow(0)
          .budgetThrows(0)
          .listenerMisbehaves(0)
          .breakerMisbehaves(0);
    }

    FeatureMix build() {
      double weights =
          values.get("serverSucceeds")
              + values.get("serverFailsBeforeHeaders")
              + values.get("serverFailsAfterHeaders")
              + values.get("serverFailsAfterMessages")
              + values.get("serverHangs");
      if (weights <= 0) {
        throw new IllegalArgumentException("the server behaviours' weights must not all be 0");
      }
      return new FeatureMix(this);
    }
  }
}
