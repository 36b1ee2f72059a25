package io.github.grpcretry.opentelemetry;

import static io.opentelemetry.sdk.testing.assertj.OpenTelemetryAssertions.assertThat;
import static io.opentelemetry.sdk.testing.assertj.OpenTelemetryAssertions.assertThatThrownBy;

import io.github.grpcretry.CircuitBreaker;
import io.github.grpcretry.HedgingPolicy;
import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryListener;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.TokenBucketBudget;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.ClientInterceptors;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.common.InstrumentationScopeInfo;
import io.opentelemetry.sdk.metrics.SdkMeterProvider;
import io.opentelemetry.sdk.metrics.data.MetricData;
import io.opentelemetry.sdk.testing.exporter.InMemoryMetricReader;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The metrics of real calls through an in-process server with scripted faults, read back with the
 * SDK's in-memory reader: names, units, labels, bucket boundaries and values.
 */
class RetryMetricsTest {
  private static final MethodDescriptor<GetItemRequest, Item> GET =
      ItemServiceGrpc.getGetItemMethod();
  private static final String METHOD = "grpcretry.demo.v1.ItemService/GetItem";
  /** The authority of every in-process channel of the testing kit. */
  private static final String TARGET = "localhost";
  private static final Attributes CALL = attributes(METHOD, TARGET);
  private static final Duration REAL_TIMEOUT = Duration.ofSeconds(10);
  private static final double[] COUNT_BOUNDARIES = {1, 2, 3, 4, 5};
  private static final double[] LATENCY_BOUNDARIES =
      MetricsListener.LATENCY_BUCKETS.stream().mapToDouble(Double::doubleValue).toArray();

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final InMemoryMetricReader reader = InMemoryMetricReader.create();
  private final SdkMeterProvider meterProvider =
      SdkMeterProvider.builder().registerMetricReader(reader).build();
  private final OpenTelemetrySdk openTelemetry =
      OpenTelemetrySdk.builder().setMeterProvider(meterProvider).build();
  /** Released once per closed call, after the metrics listener heard of it. */
  private final Semaphore closes = new Semaphore(0);

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  @AfterEach
  void tearDown() {
    openTelemetry.close();
  }

  private static Attributes attributes(String method, String target) {
    return Attributes.of(Labels.METHOD, method, Labels.TARGET, target);
  }

  /** An interceptor on the manual clock with the metrics' listener, then the close counter. */
  private RetryInterceptor.Builder retryWith(RetryMetrics metrics) {
    return RetryInterceptor.newBuilder()
        .scheduler(clock.scheduler())
        .ticker(clock.ticker())
        .random(() -> 0.5) // A6 jitter of exactly 1.0
        .addListener(metrics.listener())
        .addListener(
            new RetryListener() {
              @Override
              public void onCallClosed(CallClosed event) {
                closes.release();
              }
            });
  }

  /** A policy of {@code attempts} attempts, backoff 100 ms doubling, retrying UNAVAILABLE. */
  private static RetryPolicy policy(int attempts) {
    return RetryPolicy.newBuilder()
        .maxAttempts(attempts)
        .initialBackoff(Duration.ofMillis(100))
        .maxBackoff(Duration.ofSeconds(1))
        .backoffMultiplier(2.0)
        .retryableStatusCodes(Status.Code.UNAVAILABLE)
        .build();
  }

  private Future<Item> call(RetryInterceptor retry) {
    return ItemServiceGrpc.newFutureStub(ClientInterceptors.intercept(grpc.channel(), retry))
        .getItem(GetItemRequest.newBuilder().setId("a").build());
  }

  /** Moves the manual clock by each delay in turn, once a timer is pending for it. */
  private void advanceThrough(Duration... delays) throws InterruptedException {
    for (Duration delay : delays) {
      assertThat(clock.awaitPendingTasks(1, REAL_TIMEOUT)).as("a timer for %s", delay).isTrue();
      clock.advance(delay);
    }
  }

  private Status statusOf(Future<Item> call) throws Exception {
    try {
      call.get(REAL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
      return Status.OK;
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(StatusRuntimeException.class);
      return ((StatusRuntimeException) e.getCause()).getStatus();
    }
  }

  /** Waits (real time, bounded) until the metrics listener has heard {@code count} closes. */
  private void awaitCloses(int count) throws InterruptedException {
    assertThat(closes.tryAcquire(count, REAL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS))
        .as("%d call(s) closed", count)
        .isTrue();
  }

  private Optional<MetricData> metric(String name) {
    List<MetricData> found =
        reader.collectAllMetrics().stream().filter(m -> m.getName().equals(name)).toList();
    assertThat(found).as("one %s", name).hasSizeLessThanOrEqualTo(1);
    return found.stream().findFirst();
  }

  private MetricData only(String name) {
    return metric(name).orElseThrow(() -> new AssertionError("no metric " + name));
  }

  /** {@code count} calls with no time between attempts: all in the first bucket, (-inf, 0]. */
  private void assertRetryDelayAllZero(int count) {
    long[] buckets = new long[LATENCY_BOUNDARIES.length + 1];
    buckets[0] = count;
    assertThat(only(RetryMetrics.CALL_RETRY_DELAY))
        .hasInstrumentationScope(
InstrumentationScopeInfo.create(RetryMetrics.INSTRUMENTATION_SCOPE))
        .hasUnit("s")
        .hasHistogramSatisfying(
            h ->
                h.hasPointsSatisfying(
                    p ->
                        p.hasAttributes(CALL)
                            .hasCount(count)
                            .hasSum(0)
                            .hasBucketBoundaries(LATENCY_BOUNDARIES)
                            .hasBucketCounts(buckets)));
  }

  @Test
  void aCallThatSucceedsFirstTimeRecordsOnlyItsZeroRetryDelay() throws Exception {
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor retry = retryWith(metrics).defaultPolicy(policy(3)).build();
    assertThat(statusOf(call(retry)).getCode()).isEqualTo(Status.Code.OK);
    awaitCloses(1);

    assertRetryDelayAllZero(1);
    assertThat(metric(RetryMetrics.CALL_RETRIES)).as("A96: 0 retries is not reported").isEmpty();
    assertThat(metric(RetryMetrics.CALL_HEDGES)).as("A96: 0 hedges is not reported").isEmpty();
    assertThat(metric(RetryMetrics.RETRIES_REFUSED)).isEmpty();
    assertThat(metric(RetryMetrics.CALLS_REJECTED)).isEmpty();
  }

  @Test
  void aCallRetriedTwiceRecordsTwoRetriesAndItsBackoffs() throws Exception {
    faults
        .script(GET)
        .then(Fault.fail(Status.UNAVAILABLE))
        .then(Fault.fail(Status.UNAVAILABLE))
        .then(Fault.pass());
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor retry = retryWith(metrics).defaultPolicy(policy(3)).build();
    Future<Item> call = call(retry);
    advanceThrough(Duration.ofMillis(100), Duration.ofMillis(200));
    assertThat(statusOf(call).getCode()).isEqualTo(Status.Code.OK);
    awaitCloses(1);

    assertThat(only(RetryMetrics.CALL_RETRIES))
        .hasUnit("{retry}")
        .hasDescription(
            "Number of retries during the client call. If there were no retries, 0 is not"
                + " reported.")
        .hasHistogramSatisfying(
            h ->
                h.hasPointsSatisfying(
                    p ->
                        p.hasAttributes(CALL)
                            .hasCount(1)
                            .hasSum(2)
                            .hasBucketBoundaries(COUNT_BOUNDARIES)
                            .hasBucketCounts(0, 1, 0, 0, 0, 0)));
    long[] delayBuckets = new long[LATENCY_BOUNDARIES.length + 1];
    delayBuckets[29] = 1; // (0.25, 0.3]
    assertThat(LATENCY_BOUNDARIES[29]).isEqualTo(0.3);
    assertThat(only(RetryMetrics.CALL_RETRY_DELAY))
        .hasHistogramSatisfying(
            h ->
                h.hasPointsSatisfying(
                    p ->
                        p.hasAttributes(CALL)
                            .hasCount(1)
                            .hasSum(0.3)
                            .hasBucketCounts(delayBuckets)));
    assertThat(metric(RetryMetrics.CALL_HEDGES)).isEmpty();
    assertThat(metric(RetryMetrics.RETRIES_REFUSED)).as("the call succeeded").isEmpty();
  }

  @Test
  void aHedgedCallRecordsItsHedgeAndNoRetry() throws Exception {
    faults.script(GET).then(Fault.hang()).then(Fault.pass());
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor retry =
        retryWith(metrics)
            .servicePolicy(
                GET.getServiceName(),
                HedgingPolicy.newBuilder()
                    .maxAttempts(2)
                    .hedgingDelay(Duration.ofMillis(10))
                    .build())
            .build();
    Future<Item> call = call(retry);
    advanceThrough(Duration.ofMillis(10));
    assertThat(statusOf(call).getCode()).isEqualTo(Status.Code.OK);
    awaitCloses(1);

    assertThat(only(RetryMetrics.CALL_HEDGES))
        .hasUnit("{hedge}")
        .hasHistogramSatisfying(
            h ->
                h.hasPointsSatisfying(
                    p ->
                        p.hasAttributes(CALL)
                            .hasCount(1)
                            .hasSum(1)
                            .hasBucketBoundaries(COUNT_BOUNDARIES)
                            .hasBucketCounts(1, 0, 0, 0, 0, 0)));
    assertThat(metric(RetryMetrics.CALL_RETRIES)).as("a hedge is not a retry").isEmpty();
    assertRetryDelayAllZero(1);
  }

  @Test
  void aRetryRefusedByTheBudgetIsCountedByReasonAndTheGaugeShowsTheEmptyBucket()
      throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    TokenBucketBudget budget = TokenBucketBudget.newBuilder().maxTokens(1).build();
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor retry =
        retryWith(metrics).retryBudget(budget).defaultPolicy(policy(2)).build();
    metrics.observe(retry);

    // The first call spends the one token on its retry and runs out of attempts.
    Future<Item> first = call(retry);
    advanceThrough(Duration.ofMillis(100));
    assertThat(statusOf(first).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    // The second finds the bucket empty.
    assertThat(statusOf(call(retry)).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    awaitCloses(2);

    assertThat(only(RetryMetrics.RETRIES_REFUSED))
        .hasUnit("{retry}")
        .hasLongSumSatisfying(
            sum ->
                sum.isMonotonic()
                    .hasPointsSatisfying(
                        p -> p.hasAttributes(refusal("max_attempts")).hasValue(1),
                        p -> p.hasAttributes(refusal("budget")).hasValue(1)));
    assertThat(only(RetryMetrics.CALL_RETRIES))
        .hasHistogramSatisfying(
            h -> h.hasPointsSatisfying(p -> p.hasAttributes(CALL).hasCount(1).hasSum(1)));
    assertThat(only(RetryMetrics.BUDGET_TOKENS))
        .hasUnit("{token}")
        .hasDoubleGaugeSatisfying(
            g ->
                g.hasPointsSatisfying(
                    p -> p.hasAttributes(Attributes.of(Labels.TARGET, TARGET)).hasValue(0)));
    assertThat(metric(RetryMetrics.BREAKER_STATE)).as("no breaker").isEmpty();
  }

  private static Attributes refusal(String reason) {
    return CALL.toBuilder().put(Labels.REASON, reason).build();
  }

  @Test
  void aCallTheBreakerRejectsIsCountedAndTheGaugeShowsItOpen() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor retry =
        retryWith(metrics)
            .retryBudget(RetryBudget.unlimited())
            // UNAVAILABLE counts against the target but is not retried here: one attempt a call.
            .defaultPolicy(
                RetryPolicy.newBuilder()
                    .maxAttempts(2)
                    .retryableStatusCodes(Status.Code.DEADLINE_EXCEEDED)
                    .build())
            .circuitBreakers(
                CircuitBreaker.classic()
                    .slidingWindowCalls(2)
                    .minimumCalls(2)
                    .failureRateThreshold(1)
                    .factory())
            .build();
    metrics.observe(retry);
    assertThat(statusOf(call(retry)).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    awaitCloses(1);
    assertThat(only(RetryMetrics.BREAKER_STATE))
        .hasUnit("{state}")
        .hasLongGaugeSatisfying(
            g ->
                g.hasPointsSatisfying(
                    p -> p.hasAttributes(Attributes.of(Labels.TARGET, TARGET)).hasValue(0)));

    assertThat(statusOf(call(retry)).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    Status rejected = statusOf(call(retry));
    assertThat(rejected.getDescription()).startsWith("grpc-retry: not sent");
    awaitCloses(2);

    assertThat(only(RetryMetrics.CALLS_REJECTED))
        .hasUnit("{call}")
        .hasLongSumSatisfying(
            sum -> sum.isMonotonic().hasPointsSatisfying(p -> p.hasAttributes(CALL).hasValue(1)));
    assertThat(only(RetryMetrics.RETRIES_REFUSED))
        .as("the first two calls failed for good; the rejection is not a refused retry")
        .hasLongSumSatisfying(
            sum ->
                sum.hasPointsSatisfying(
                    p -> p.hasAttributes(refusal("not_retryable")).hasValue(2)));
    assertThat(only(RetryMetrics.BREAKER_STATE))
        .hasLongGaugeSatisfying(
            g ->
                g.hasPointsSatisfying(
                    p -> p.hasAttributes(Attributes.of(Labels.TARGET, TARGET)).hasValue(2)));
    assertRetryDelayAllZero(3);
    assertThat(metric(RetryMetrics.BUDGET_TOKENS))
        .as("an unlimited budget has no tokens")
        .isEmpty();
  }

  @Test
  void theGaugeReadsTheInterceptorsOwnBudgetOfEachTarget() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE)).then(Fault.pass());
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor retry = retryWith(metrics).defaultPolicy(policy(2)).build();
    assertThat(metric(RetryMetrics.BUDGET_TOKENS)).as("no target yet").isEmpty();
    metrics.observe(retry).observe(retry);
    Future<Item> call = call(retry);
    advanceThrough(Duration.ofMillis(100));
    assertThat(statusOf(call).getCode()).isEqualTo(Status.Code.OK);
    awaitCloses(1);

    double tokens = retry.retryBudget(TARGET).stats().availableTokens();
    assertThat(tokens).as("a default bucket, nearly full").isPositive();
    assertThat(only(RetryMetrics.BUDGET_TOKENS))
        .hasDoubleGaugeSatisfying(
            g ->
                g.hasPointsSatisfying(
                    p -> p.hasAttributes(Attributes.of(Labels.TARGET, TARGET)).hasValue(tokens)));
  }

  @Test
  void filteredMethodsAndTargetsAreRecordedAsOtherAndGetNoGauges() throws Exception {
    RetryMetrics metrics =
        RetryMetrics.newBuilder()
            .meterProvider(meterProvider)
            .methodAttributeFilter(method -> method.startsWith("known."))
            .targetAttributeFilter(target -> !target.equals(TARGET))
            .build();
    RetryInterceptor retry = retryWith(metrics).defaultPolicy(policy(2)).build();
    metrics.observe(retry);
    assertThat(statusOf(call(retry)).getCode()).isEqualTo(Status.Code.OK);
    awaitCloses(1);

    assertThat(only(RetryMetrics.CALL_RETRY_DELAY))
        .hasHistogramSatisfying(
            h ->
                h.hasPointsSatisfying(
                    p -> p.hasAttributes(attributes(RetryMetrics.OTHER, RetryMetrics.OTHER))));
    assertThat(metric(RetryMetrics.BUDGET_TOKENS)).isEmpty();
  }

  @Test
  void closedMetricsStopTheirGaugesAndObserveNoMore() throws Exception {
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor retry = retryWith(metrics).defaultPolicy(policy(2)).build();
    metrics.observe(retry);
    assertThat(statusOf(call(retry)).getCode()).isEqualTo(Status.Code.OK);
    awaitCloses(1);
    assertThat(metric(RetryMetrics.BUDGET_TOKENS)).isPresent();

    metrics.close();
    metrics.close();
    assertThat(metric(RetryMetrics.BUDGET_TOKENS)).isEmpty();
    assertThat(metric(RetryMetrics.CALL_RETRY_DELAY)).as("the listener still records").isPresent();
    assertThatThrownBy(() -> metrics.observe(retry))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("RetryMetrics was closed: it observes no more interceptors");
  }

  @Test
  void severalInterceptorsOnOneTargetShowTheOneWorstOff() throws Exception {
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor roomy =
        retryWith(metrics)
            .retryBudget(TokenBucketBudget.newBuilder().maxTokens(5).build())
            .circuitBreakers(CircuitBreaker.classic().factory())
            .defaultPolicy(policy(2))
            .build();
    RetryInterceptor tight =
        retryWith(metrics)
            .retryBudget(TokenBucketBudget.newBuilder().maxTokens(1).build())
            .circuitBreakers(CircuitBreaker.classic().factory())
            .defaultPolicy(policy(2))
            .build();
    metrics.observe(roomy).observe(tight);
    assertThat(statusOf(call(roomy)).getCode()).isEqualTo(Status.Code.OK);
    // A retry that fails spends the tight budget's only token, and does not earn it back.
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE)).then(Fault.fail(Status.UNAVAILABLE));
    Future<Item> retried = call(tight);
    advanceThrough(Duration.ofMillis(100));
    assertThat(statusOf(retried).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    awaitCloses(2);
    ((io.github.grpcretry.ClassicCircuitBreaker) tight.circuitBreaker(TARGET))
        .forceOpen("for the test");

    Attributes target = Attributes.of(Labels.TARGET, TARGET);
    assertThat(tight.retryBudget(TARGET).stats().availableTokens()).isZero();
    assertThat(only(RetryMetrics.BUDGET_TOKENS))
        .hasDoubleGaugeSatisfying(
            g -> g.hasPointsSatisfying(p -> p.hasAttributes(target).hasValue(0)));
    assertThat(only(RetryMetrics.BREAKER_STATE))
        .hasLongGaugeSatisfying(
            g -> g.hasPointsSatisfying(p -> p.hasAttributes(target).hasValue(2)));
  }

  @Test
  void everyRefusalReasonIsItsLowerCaseName() throws Exception {
    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    for (RetryListener.Refusal reason : RetryListener.Refusal.values()) {
      metrics.listener()
          .onRetryRefused(new RetryListener.RetryRefused(METHOD, TARGET, 1, reason, "why"));
    }
    assertThat(only(RetryMetrics.RETRIES_REFUSED))
        .hasLongSumSatisfying(
            sum ->
                sum.hasPointsSatisfying(
                    p -> p.hasAttributes(refusal("not_retryable")).hasValue(1),
                    p -> p.hasAttributes(refusal("server_pushback")).hasValue(1),
                    p -> p.hasAttributes(refusal("max_attempts")).hasValue(1),
                    p -> p.hasAttributes(refusal("deadline")).hasValue(1),
                    p -> p.hasAttributes(refusal("buffer_limit")).hasValue(1),
                    p -> p.hasAttributes(refusal("budget")).hasValue(1),
                    p -> p.hasAttributes(refusal("breaker")).hasValue(1)));
  }

  @Test
  void gaugesCoverAtMostTheirLimitOfTargets() {
    TargetGauges gauges = new TargetGauges(meterProvider.get("bound"));
    for (int i = 0; i < TargetGauges.MAX_TARGETS + 10; i++) {
      gauges.target("host-" + i + ":443");
    }
    gauges.target("host-0:443");
    assertThat(gauges).hasToString("targets=1000, interceptors=0");
  }
}
