package io.github.grpcretry.lab;

import io.github.grpcretry.CircuitBreaker;
import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.RetryBudgetRegistry;
import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * One way for the clients to call the server; the lab runs each against its own fresh server.
 *
 * <p>The grpc-retry set-ups take the library as it comes: {@code RetryPolicy.newBuilder()}'s
 * defaults (3 attempts, backoff 100 ms doubling up to 5 s, UNAVAILABLE retryable), the default
 * budget, and the breaker presets as they are, plus the lab's per-attempt timeout ({@code
 * --attempt-timeout-ms}; {@code GetItem} is marked {@code NO_SIDE_EFFECTS}, so a timed-out attempt
 * may be replaced). grpc-java's built-in retry gets the same policy in its service config, with
 * gRFC A6 throttling; it ignores the per-attempt timeout. The naive set-up is what a hurried user
 * writes: 5 attempts, short backoff, RESOURCE_EXHAUSTED retried too, no budget.
 *
 * <p>Immutable.
 */
public enum Setup {
  /** Each call is one attempt. */
  NO_RETRIES("no-retries", "no retries", "one attempt per call"),
  /** grpc-retry with no budget: every retryable failure is retried up to maxAttempts. */
  NAIVE(
      "naive",
      "naive retries",
      "RetryInterceptor, maxAttempts 5, backoff 10 ms to 100 ms, UNAVAILABLE and"
          + " RESOURCE_EXHAUSTED retryable, RetryBudget.unlimited()"),
  /** grpc-java's own retry, throttled as gRFC A6 prescribes. */
  GRPC_BUILTIN(
      "grpc-builtin",
      "grpc-java retry + A6",
      "channel service config: grpc-retry's default retryPolicy, retryThrottling {maxTokens 10,"
          + " tokenRatio 0.1}; grpc-java ignores perAttemptRecvTimeout, so attempts are not timed"
          + " out"),
  /** grpc-retry as it comes: default policy and budget, plus the per-attempt timeout. */
  GRPC_RETRY(
      "grpc-retry",
      "grpc-retry defaults",
      "RetryInterceptor, RetryPolicy defaults + perAttemptTimeout, default budget"
          + " (TokenBucketBudget per target)"),
  /** The defaults, hedging on the per-attempt timeout instead of abandoning the slow attempt. */
  GRPC_RETRY_HEDGE(
      "grpc-retry-hedge",
      "grpc-retry hedge on timeout",
      "grpc-retry defaults + hedgeOnPerAttemptTimeout(true)"),
  /** The defaults and the classic circuit breaker preset. */
  GRPC_RETRY_BREAKER(
      "grpc-retry-breaker",
      "grpc-retry + breaker",
      "grpc-retry defaults + circuitBreakers(CircuitBreaker.classic().factory())"),
  /** The defaults and the adaptive throttling preset. */
  GRPC_RETRY_THROTTLING(
      "grpc-retry-throttling",
      "grpc-retry + throttling",
      "grpc-retry defaults + circuitBreakers(CircuitBreaker.adaptiveThrottling().factory())");

  static final int NAIVE_MAX_ATTEMPTS = 5;
  static final Duration NAIVE_INITIAL_BACKOFF = Duration.ofMillis(10);
  static final Duration NAIVE_MAX_BACKOFF = Duration.ofMillis(100);
  static final int THROTTLING_MAX_TOKENS = 10;
  static final double THROTTLING_TOKEN_RATIO = 0.1;
  /** The name the lab's resolver answers for; also the authority, so each client's budget key. */
  static final String TARGET = "storm-lab:///item-service";

  private final String cliName;
  private final String label;
  private final String description;

  Setup(String cliName, String label, String description) {
    this.cliName = cliName;
    this.label = label;
    this.description = description;
  }

  /** The name used on the command line. */
  public String cliName() {
    return cliName;
  }

  /** A short human name, used in tables and legends. */
  public String label() {
    return label;
  }

  /** How the set-up is configured, in one line. */
  public String description() {
    return description;
  }

  /** Whether this is one of grpc-retry's own set-ups (not naive: that one has no budget). */
  boolean isGrpcRetry() {
    return this == GRPC_RETRY
        || this == GRPC_RETRY_HEDGE
        || this == GRPC_RETRY_BREAKER
        || this == GRPC_RETRY_THROTTLING;
  }

  /** Whether this set-up has a circuit breaker. */
  boolean hasBreaker() {
    return this == GRPC_RETRY_BREAKER || this == GRPC_RETRY_THROTTLING;
  }

  static Optional<Setup> fromCliName(String name) {
    return Arrays.stream(values()).filter(s -> s.cliName.equals(name)).findFirst();
  }

  static List<String> cliNames() {
    return Arrays.stream(values()).map(Setup::cliName).toList();
  }

  /** grpc-retry's default policy with the lab's per-attempt timeout. */
  static RetryPolicy defaultPolicy(Duration perAttemptTimeout, boolean hedgeOnTimeout) {
    return RetryPolicy.newBuilder()
        .perAttemptTimeout(perAttemptTimeout)
        .hedgeOnPerAttemptTimeout(hedgeOnTimeout)
        .build();
  }

  /** The naive set-up's policy. */
  static RetryPolicy naivePolicy(Duration perAttemptTimeout) {
    return RetryPolicy.newBuilder()
        .maxAttempts(NAIVE_MAX_ATTEMPTS)
        .initialBackoff(NAIVE_INITIAL_BACKOFF)
        .maxBackoff(NAIVE_MAX_BACKOFF)
        .retryableStatusCodes(Status.Code.UNAVAILABLE, Status.Code.RESOURCE_EXHAUSTED)
        .perAttemptTimeout(perAttemptTimeout)
        .build();
  }

  /**
   * grpc-retry's default policy in the {@code Map} form of grpc-java's {@code
   * defaultServiceConfig}, with gRFC A6 throttling and {@code round_robin}. grpc-java parses {@code
   * perAttemptRecvTimeout} but does not enforce it; it is there so that the document says what the
   * other set-ups do.
   */
  static Map<String, ?> serviceConfig(Duration perAttemptTimeout) {
    RetryPolicy p = defaultPolicy(perAttemptTimeout, false);
    Map<String, Object> retryPolicy =
        Map.of(
            "maxAttempts", (double) p.maxAttempts(),
            "initialBackoff", durationText(p.initialBackoff()),
            "maxBackoff", durationText(p.maxBackoff()),
            "backoffMultiplier", p.backoffMultiplier(),
            "retryableStatusCodes",
                p.retryableStatusCodes().stream().map(Enum::name).sorted().toList(),
            "perAttemptRecvTimeout", durationText(perAttemptTimeout));
    return Map.of(
        "loadBalancingConfig",
        List.of(Map.of("round_robin", Map.of())),
        "methodConfig",
        List.of(
            Map.of(
                "name", List.of(Map.of("service", "grpcretry.demo.v1.ItemService")),
                "retryPolicy", retryPolicy)),
        "retryThrottling",
        Map.of(
            "maxTokens", (double) THROTTLING_MAX_TOKENS,
            "tokenRatio", THROTTLING_TOKEN_RATIO));
  }

  /**
   * Opens one client's channel to the servers on {@code ports}, behind {@code round_robin},
   * configured as this set-up wants: its own channel, interceptor, budget and breaker.
   */
  Connection connect(List<Integer> ports, Duration perAttemptTimeout) {
    NettyChannelBuilder builder =
        NettyChannelBuilder.forTarget(TARGET)
            .nameResolverFactory(new StaticResolverFactory(ports))
            .defaultLoadBalancingPolicy("round_robin")
            .usePlaintext()
            // Callbacks only record an outcome; running them on the transport thread keeps the
            // client's CPU cost, which competes with the server's, low.
            .directExecutor();
    // A fresh registry per client and run: each starts with a full bucket, and the lab can read
    // the budget the interceptor spends (the default TokenBucketBudget of the target).
    RetryBudgetRegistry registry = RetryBudgetRegistry.newBuilder().build();
    switch (this) {
      case NO_RETRIES:
        return new Connection(builder.disableRetry().build(), null, null);
      case NAIVE:
        {
          RetryInterceptor naive =
              RetryInterceptor.newBuilder()
                  .defaultPolicy(naivePolicy(perAttemptTimeout))
                  .retryBudget(RetryBudget.unlimited())
                  .build();
          return new Connection(builder.disableRetry().build(), naive, null);
        }
      case GRPC_BUILTIN:
        return new Connection(
            builder.enableRetry().defaultServiceConfig(serviceConfig(perAttemptTimeout)).build(),
            null,
            null);
      case GRPC_RETRY:
      case GRPC_RETRY_HEDGE:
      case GRPC_RETRY_BREAKER:
      case GRPC_RETRY_THROTTLING:
        {
          RetryInterceptor.Builder library =
              RetryInterceptor.newBuilder()
                  .defaultPolicy(defaultPolicy(perAttemptTimeout, this == GRPC_RETRY_HEDGE))
                  .retryBudgetRegistry(registry);
          if (this == GRPC_RETRY_BREAKER) {
            library.circuitBreakers(CircuitBreaker.classic().factory());
          } else if (this == GRPC_RETRY_THROTTLING) {
            library.circuitBreakers(CircuitBreaker.adaptiveThrottling().factory());
          }
          return new Connection(builder.disableRetry().build(), library.build(), registry);
        }
    }
    throw new AssertionError(this);
  }

  private static String durationText(Duration d) {
    return String.format(Locale.ROOT, "%.3fs", d.toNanos() / 1e9);
  }

  /**
   * A set-up's channel: the managed channel and what the clients call through.
   *
   * <p>Thread-safe, as its channel is.
   */
  static final class Connection implements AutoCloseable {
    private final ManagedChannel managed;
    private final Channel channel;
    private final @Nullable RetryBudgetRegistry registry;

    private Connection(
        ManagedChannel managed,
        @Nullable RetryInterceptor interceptor,
        @Nullable RetryBudgetRegistry registry) {
      this.managed = managed;
      this.channel = interceptor == null ? managed : ClientInterceptors.intercept(managed, interceptor);
      this.registry = registry;
    }

    Channel channel() {
      return channel;
    }

    /** The budget this connection's interceptor spends, or null if it has none to show. */
    @Nullable RetryBudget budget() {
      return registry == null ? null : registry.budgetFor(managed.authority());
    }

    /** Closes the channel; an interrupt while waiting for it is kept for later. */
    @Override
    public void close() {
      managed.shutdownNow();
      try {
        managed.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
