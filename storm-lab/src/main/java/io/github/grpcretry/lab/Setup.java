package io.github.grpcretry.lab;

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
 * <p>The three retrying set-ups share one retry policy: at most 5 attempts, backoff 10 ms doubling
 * up to 100 ms, UNAVAILABLE and RESOURCE_EXHAUSTED retryable, and each attempt timed out after
 * {@code --attempt-timeout-ms} (safe here: {@code GetItem} is marked {@code NO_SIDE_EFFECTS}).
 * They differ in what limits retries, and grpc-java's own retry cannot time out attempts.
 *
 * <p>Immutable.
 */
public enum Setup {
  /** Each call is one attempt. */
  NO_RETRIES("no-retries", "no retries", "one attempt per call"),
  /** grpc-retry with no budget: every retryable failure is retried up to maxAttempts. */
  NAIVE("naive", "naive retries", "RetryInterceptor, maxAttempts 5, RetryBudget.unlimited()"),
  /** grpc-java's own retry, throttled as gRFC A6 prescribes. */
  GRPC_BUILTIN(
      "grpc-builtin",
      "grpc-java retry + A6 throttling",
      "channel service config: same retryPolicy, retryThrottling {maxTokens 10, tokenRatio 0.1};"
          + " grpc-java ignores perAttemptRecvTimeout, so attempts are not timed out"),
  /** grpc-retry as it comes: the default token-bucket budget. */
  GRPC_RETRY(
      "grpc-retry",
      "grpc-retry defaults",
      "RetryInterceptor, maxAttempts 5, default budget (TokenBucketBudget: 100 tokens, retry"
          + " costs 1, success earns 0.1)");

  static final int MAX_ATTEMPTS = 5;
  static final Duration INITIAL_BACKOFF = Duration.ofMillis(10);
  static final Duration MAX_BACKOFF = Duration.ofMillis(100);
  static final double BACKOFF_MULTIPLIER = 2.0;
  static final int THROTTLING_MAX_TOKENS = 10;
  static final double THROTTLING_TOKEN_RATIO = 0.1;

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

  static Optional<Setup> fromCliName(String name) {
    return Arrays.stream(values()).filter(s -> s.cliName.equals(name)).findFirst();
  }

  static List<String> cliNames() {
    return Arrays.stream(values()).map(Setup::cliName).toList();
  }

  /** The retry policy of the set-ups that use grpc-retry. */
  static RetryPolicy retryPolicy(Duration perAttemptTimeout) {
    return RetryPolicy.newBuilder()
        .maxAttempts(MAX_ATTEMPTS)
        .initialBackoff(INITIAL_BACKOFF)
        .maxBackoff(MAX_BACKOFF)
        .backoffMultiplier(BACKOFF_MULTIPLIER)
        .retryableStatusCodes(Status.Code.UNAVAILABLE, Status.Code.RESOURCE_EXHAUSTED)
        .perAttemptTimeout(perAttemptTimeout)
        .build();
  }

  /**
   * The same policy as {@link #retryPolicy} in the {@code Map} form of grpc-java's {@code
   * defaultServiceConfig}, with gRFC A6 throttling. grpc-java parses {@code perAttemptRecvTimeout}
   * but does not enforce it; it is there so that the document says what the other set-ups do.
   */
  static Map<String, ?> serviceConfig(Duration perAttemptTimeout) {
    Map<String, Object> retryPolicy =
        Map.of(
            "maxAttempts", (double) MAX_ATTEMPTS,
            "initialBackoff", durationText(INITIAL_BACKOFF),
            "maxBackoff", durationText(MAX_BACKOFF),
            "backoffMultiplier", BACKOFF_MULTIPLIER,
            "retryableStatusCodes", List.of("UNAVAILABLE", "RESOURCE_EXHAUSTED"),
            "perAttemptRecvTimeout", durationText(perAttemptTimeout));
    return Map.of(
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
   * Opens a channel to the server on {@code port} configured as this set-up wants.
   *
   * @param registry where {@link #GRPC_RETRY} takes its budget from: a fresh registry per run, so
   *     that each run starts with a full bucket whatever ran before in this process
   */
  Connection connect(int port, Duration perAttemptTimeout, RetryBudgetRegistry registry) {
    NettyChannelBuilder builder =
        NettyChannelBuilder.forAddress("127.0.0.1", port)
            .usePlaintext()
            // Callbacks only record an outcome; running them on the transport thread keeps the
            // client's CPU cost, which competes with the server's, low.
            .directExecutor();
    switch (this) {
      case NO_RETRIES:
        return new Connection(builder.disableRetry().build(), null, null);
      case NAIVE:
        {
          RetryInterceptor naive =
              RetryInterceptor.newBuilder()
                  .defaultPolicy(retryPolicy(perAttemptTimeout))
                  .retryBudget(RetryBudget.unlimited())
                  .build();
          return new Connection(builder.disableRetry().build(), naive, null);
        }
      case GRPC_BUILTIN:
        return new Connection(
            builder
                .enableRetry()
                .maxRetryAttempts(MAX_ATTEMPTS)
                .defaultServiceConfig(serviceConfig(perAttemptTimeout))
                .build(),
            null,
            null);
      case GRPC_RETRY:
        {
          // The lab's registry hands out the default TokenBucketBudget per authority, so that the
          // report can read the budget's state; the budget is the one the interceptor would keep.
          RetryInterceptor library =
              RetryInterceptor.newBuilder()
                  .defaultPolicy(retryPolicy(perAttemptTimeout))
                  .retryBudgetRegistry(registry)
                  .build();
          return new Connection(builder.disableRetry().build(), library, registry);
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
