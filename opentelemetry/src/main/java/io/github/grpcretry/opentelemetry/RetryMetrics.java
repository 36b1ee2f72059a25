package io.github.grpcretry.opentelemetry;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryListener;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.metrics.Meter;
import io.opentelemetry.api.metrics.MeterProvider;
import java.util.Objects;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * OpenTelemetry metrics of grpc-retry: gRFC A96's retry metrics under gRPC's own names, units and
 * labels, and this library's own (retries refused by reason, calls rejected by the circuit
 * breaker, each target's budget tokens and breaker state).
 *
 * <pre>{@code
 * RetryMetrics metrics = RetryMetrics.create(openTelemetry);
 * RetryInterceptor retry = RetryInterceptor.newBuilder()
 *     .defaultPolicy(policy)
 *     .addListener(metrics.listener())
 *     .build();
 * metrics.observe(retry); // the gauges of the targets it calls
 * }</pre>
 *
 * <p>The per-call metrics come from {@link #listener()}, which any number of interceptors may be
 * given. The gauges read the budget and breaker of every target that the listener has heard of,
 * from the interceptors given to {@link #observe}, when the SDK collects. When several observed
 * interceptors keep separate budgets or breakers for one target, the gauge shows the one that is
 * worst off: the fewest tokens, the most restrictive state.
 *
 * <p>The README's "Observing retries" has the table of every metric.
 *
 * <p>Thread-safe.
 */
public final class RetryMetrics implements AutoCloseable {
  /** The instrumentation scope of every instrument: {@value}. */
  public static final String INSTRUMENTATION_SCOPE = "grpc-retry";

  /** gRFC A96: retries per call, not counting the first attempt nor hedges ({@code {retry}}). */
  public static final String CALL_RETRIES = "grpc.client.call.retries";

  /** gRFC A96: hedges per call ({@code {hedge}}). */
  public static final String CALL_HEDGES = "grpc.client.call.hedges";

  /** gRFC A96: total time per call with no attempt in flight ({@code s}). */
  public static final String CALL_RETRY_DELAY = "grpc.client.call.retry_delay";

  /** Attempts not made after a failed one, by reason ({@code {retry}}). */
  public static final String RETRIES_REFUSED = "grpc_retry.client.retries_refused";

  /** Calls not sent at all because the circuit breaker refused their first attempt. */
  public static final String CALLS_REJECTED = "grpc_retry.client.calls_rejected";

  /** Tokens in each target's retry budget now ({@code {token}}). */
  public static final String BUDGET_TOKENS = "grpc_retry.client.budget.tokens";

  /**
   * Each target's circuit breaker state now: 0 closed, 1 half-open, 2 open, 3 throttling
   * (adaptive throttling refusing some attempts).
   */
  public static final String BREAKER_STATE = "grpc_retry.client.breaker.state";

  /** The value of a label that a filter did not let through, as in gRFC A66: {@value}. */
  public static final String OTHER = "other";

  private final MetricsListener listener;
  private final TargetGauges gauges;

  private RetryMetrics(Builder b, MeterProvider meterProvider) {
    Meter meter = meterProvider.get(INSTRUMENTATION_SCOPE);
    Labels labels = new Labels(b.methodFilter, b.targetFilter);
    this.gauges = new TargetGauges(meter);
    this.listener = new MetricsListener(meter, labels, gauges);
  }

  /**
   * Returns metrics recorded through {@code openTelemetry}'s meter provider, with every method and
   * target name as its own label value.
   *
   * @throws NullPointerException if {@code openTelemetry} is null
   */
  public static RetryMetrics create(OpenTelemetry openTelemetry) {
    return newBuilder().openTelemetry(openTelemetry).build();
  }

  /** Returns a builder; an {@link OpenTelemetry} or a {@link MeterProvider} must be set. */
  public static Builder newBuilder() {
    return new Builder();
  }

  /**
   * The listener that records the metrics: give it to {@link
   * RetryInterceptor.Builder#addListener} of every interceptor to measure.
   */
  public RetryListener listener() {
    return listener;
  }

  /**
   * Reports the budget tokens and breaker state of {@code interceptor}'s targets (those the
   * {@link #listener()} heard of) from now on; observing an interceptor twice changes nothing.
   * The interceptor is held until {@link #close()}.
   *
   * @return this
   * @throws NullPointerException if {@code interceptor} is null
   * @throws IllegalStateException if these metrics were closed
   */
  public RetryMetrics observe(RetryInterceptor interceptor) {
    gauges.observe(Objects.requireNonNull(interceptor, "interceptor"));
    return this;
  }

  /**
   * Stops the gauges and lets go of the observed interceptors. The listener goes on recording
   * into its instruments, which OpenTelemetry offers no way to remove.
   */
  @Override
  public void close() {
    gauges.close();
  }

  @Override
  public String toString() {
    return "RetryMetrics{scope=" + INSTRUMENTATION_SCOPE + ", " + gauges + '}';
  }

  /**
   * Builds {@link RetryMetrics}. Each setter checks its argument at once; {@link #build()} leaves
   * the builder reusable.
   *
   * <p>Not thread-safe.
   */
  public static final class Builder {
    private @Nullable MeterProvider meterProvider;
    private Predicate<String> methodFilter = method -> true;
    private Predicate<String> targetFilter = target -> true;

    private Builder() {}

    /** Records through {@code openTelemetry}'s meter provider; replaces {@link #meterProvider}. */
    public Builder openTelemetry(OpenTelemetry openTelemetry) {
      Objects.requireNonNull(openTelemetry, "openTelemetry");
      this.meterProvider =
          Objects.requireNonNull(
              openTelemetry.getMeterProvider(), "openTelemetry.getMeterProvider() returned null");
      return this;
    }

    /** Records through {@code meterProvider}; replaces {@link #openTelemetry}. */
    public Builder meterProvider(MeterProvider meterProvider) {
      this.meterProvider = Objects.requireNonNull(meterProvider, "meterProvider");
      return this;
    }

    /**
     * Sets which full method names ({@code "pkg.Service/Method"}) are recorded as the {@code
     * grpc.method} label; the others are recorded as {@value RetryMetrics#OTHER}, as gRFC A66
     * does for methods not generated from a proto. Every name is recorded unless set: set it when
     * a channel calls methods whose names are made at run time, to bound the label's values.
     */
    public Builder methodAttributeFilter(Predicate<String> filter) {
      this.methodFilter = Objects.requireNonNull(filter, "methodAttributeFilter");
      return this;
    }

    /**
     * Sets which targets (a channel's authority) are recorded as the {@code grpc.target} label;
     * the others are recorded as {@value RetryMetrics#OTHER} and get no gauges. Every target is
     * recorded unless set: set it when a process talks to many hosts.
     */
    public Builder targetAttributeFilter(Predicate<String> filter) {
      this.targetFilter = Objects.requireNonNull(filter, "targetAttributeFilter");
      return this;
    }

    /**
     * Returns metrics with the builder's settings, their instruments created in the meter {@value
     * RetryMetrics#INSTRUMENTATION_SCOPE}.
     *
     * @throws IllegalStateException if neither an OpenTelemetry nor a meter provider was set
     */
    public RetryMetrics build() {
      if (meterProvider == null) {
        throw new IllegalStateException(
            "RetryMetrics has nothing to record into: set openTelemetry or meterProvider before"
                + " build()");
      }
      return new RetryMetrics(this, meterProvider);
    }
  }
}
