package io.github.grpcretry.opentelemetry;

import io.github.grpcretry.RetryListener;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.metrics.DoubleHistogram;
import io.opentelemetry.api.metrics.LongCounter;
import io.opentelemetry.api.metrics.LongHistogram;
import io.opentelemetry.api.metrics.Meter;
import java.util.List;
import java.util.Locale;

/**
 * {@link RetryMetrics#listener()}: turns each call's close and each refusal into measurements,
 * and tells the gauges which targets there are.
 *
 * <p>Thread-safe: it holds instruments, which are, and no state of its own.
 */
final class MetricsListener implements RetryListener {
  /**
   * gRFC A96's recommended boundaries for the retry and hedge counts: one bucket per count up to
   * 5, grpc-java's cap on {@code maxAttempts} from a service config.
   */
  static final List<Long> COUNT_BUCKETS = List.of(1L, 2L, 3L, 4L, 5L);

  /** gRFC A66's latency boundaries, in seconds, which A96 recommends for the retry delay. */
  static final List<Double> LATENCY_BUCKETS =
      List.of(
          0d, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005,
          0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13,
          0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1d, 2d, 5d, 10d, 20d, 50d, 100d);

  private static final double NANOS_PER_SECOND = 1e9;

  private final Labels labels;
  private final TargetGauges gauges;
  private final LongHistogram retries;
  private final LongHistogram hedges;
  private final DoubleHistogram retryDelay;
  private final LongCounter retriesRefused;
  private final LongCounter callsRejected;

  MetricsListener(Meter meter, Labels labels, TargetGauges gauges) {
    this.labels = labels;
    this.gauges = gauges;
    this.retries =
        meter
            .histogramBuilder(RetryMetrics.CALL_RETRIES)
            .ofLongs()
            .setUnit("{retry}")
            .setDescription(
                "Number of retries during the client call. If there were no retries, 0 is not"
                    + " reported.")
            .setExplicitBucketBoundariesAdvice(COUNT_BUCKETS)
            .build();
    this.hedges =
        meter
            .histogramBuilder(RetryMetrics.CALL_HEDGES)
            .ofLongs()
            .setUnit("{hedge}")
            .setDescription(
                "Number of hedges during the client call. If there were no hedges, 0 is not"
                    + " reported.")
            .setExplicitBucketBoundariesAdvice(COUNT_BUCKETS)
            .build();
    this.retryDelay =
        meter
            .histogramBuilder(RetryMetrics.CALL_RETRY_DELAY)
            .setUnit("s")
            .setDescription(
                "Total time of delay while there is no active attempt during the client call.")
            .setExplicitBucketBoundariesAdvice(LATENCY_BUCKETS)
            .build();
    this.retriesRefused =
        meter
            .counterBuilder(RetryMetrics.RETRIES_REFUSED)
            .setUnit("{retry}")
            .setDescription(
                "Attempts not made after a failed one, by reason: the status was not retryable,"
                    + " the server said no, maxAttempts, the deadline, the replay buffer, the"
                    + " retry budget or the circuit breaker.")
            .build();
    this.callsRejected =
        meter
            .counterBuilder(RetryMetrics.CALLS_REJECTED)
            .setUnit("{call}")
            .setDescription(
                "Calls not sent at all because the circuit breaker refused their first attempt.")
            .build();
  }

  @Override
  public void onAttemptStarted(AttemptStarted event) {
    seen(event.target());
  }

  @Override
  public void onRetryRefused(RetryRefused event) {
    Attributes attributes = labels.of(event.method(), event.target());
    if (event.attemptNumber() == 0 && event.reason() == Refusal.BREAKER) {
      callsRejected.add(1, attributes);
    } else {
      retriesRefused.add(
          1,
          attributes.toBuilder()
              .put(Labels.REASON, event.reason().name().toLowerCase(Locale.ROOT))
              .build());
    }
  }

  @Override
  public void onCallClosed(CallClosed event) {
    seen(event.target());
    Attributes attributes = labels.of(event.method(), event.target());
    // A call the breaker refused made no attempt, and so no retry either.
    long retried = Math.max(0, event.attempts() - 1 - event.hedges());
    if (retried > 0) {
      retries.record(retried, attributes);
    }
    if (event.hedges() > 0) {
      hedges.record(event.hedges(), attributes);
    }
    retryDelay.record(event.retryDelay().toNanos() / NANOS_PER_SECOND, attributes);
  }

  private void seen(String target) {
    if (labels.recordsTarget(target)) {
      gauges.target(target);
    }
  }

  @Override
  public String toString() {
    return "RetryMetrics.listener()";
  }
}
