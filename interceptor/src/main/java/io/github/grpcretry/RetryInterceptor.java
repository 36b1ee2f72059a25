package io.github.grpcretry;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.Deadline;
import io.grpc.MethodDescriptor;
import java.util.Objects;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.DoubleSupplier;
import org.jspecify.annotations.Nullable;

/**
 * A {@link ClientInterceptor} that retries failed calls of every kind (unary, client streaming,
 * server streaming and bidirectional) according to a {@link RetryPolicy}.
 *
 * <p>For each call it records what the application sends, starts one attempt after another on the
 * channel below it until an attempt succeeds, fails in a way that is not worth retrying, or the
 * policy, the deadline, the server or the {@link RetryBudget} says stop, and replays the recorded
 * messages on each new attempt. Once the application has seen response headers or a message, the
 * call is committed to that attempt and never retried.
 *
 * <pre>{@code
 * RetryInterceptor retry = RetryInterceptor.newBuilder()
 *     .defaultPolicy(RetryPolicy.newBuilder().maxAttempts(4).build())
 *     .build();
 * Channel channel = ClientInterceptors.intercept(managedChannel, retry);
 * }</pre>
 *
 * <p>Interceptors added below this one (closer to the transport) see every attempt; those above it
 * see the call once.
 *
 * <p>Thread-safe: one instance may serve any number of channels and calls at once. Its
 * configuration is immutable; the only state it holds is the count of request bytes buffered for
 * retries by all its calls.
 */
public final class RetryInterceptor implements ClientInterceptor {
  /** Default limit of request bytes one call keeps for replay: 1 MiB, as in grpc-java. */
  public static final long DEFAULT_PER_CALL_BUFFER_LIMIT = 1L << 20;
  /** Default limit of request bytes all calls of one interceptor keep: 16 MiB, as in grpc-java. */
  public static final long DEFAULT_TOTAL_BUFFER_LIMIT = 16L << 20;

  final @Nullable RetryPolicy defaultPolicy;
  final StatusClassifier classifier;
  private final @Nullable RetryBudget budget;
  private final RetryBudgetRegistry budgetRegistry;
  final ScheduledExecutorService scheduler;
  final Deadline.Ticker ticker;
  final DoubleSupplier random;
  final long perCallBufferLimit;
  final long totalBufferLimit;
  /** Request bytes buffered for replay by all calls of this interceptor. */
  final AtomicLong bufferedBytes = new AtomicLong();

  private RetryInterceptor(Builder b) {
    this.defaultPolicy = b.defaultPolicy;
    this.classifier = b.classifier;
    this.budget = b.budget;
    this.budgetRegistry = b.budgetRegistry != null ? b.budgetRegistry : RetryBudgetRegistry.shared();
    this.scheduler = b.scheduler != null ? b.scheduler : DefaultScheduler.get();
    this.ticker = b.ticker;
    this.random = b.random;
    this.perCallBufferLimit = b.perCallBufferLimit;
    this.totalBufferLimit = b.totalBufferLimit;
  }

  /** Returns a new builder. */
  public static Builder newBuilder() {
    return new Builder();
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions callOptions, Channel next) {
    RetryPolicy policy = policyFor(method);
    if (policy == null) {
      return next.newCall(method, callOptions);
    }
    RetryBudget callBudget = budget != null ? budget : budgetRegistry.budgetFor(next.authority());
    return new RetryingCall<>(this, method, callOptions, next, policy, callBudget);
  }

  private @Nullable RetryPolicy policyFor(MethodDescriptor<?, ?> method) {
    return defaultPolicy;
  }

  /** The number of request bytes that this interceptor's calls currently hold for replay. */
  public long bufferedBytes() {
    return bufferedBytes.get();
  }

  @Override
  public String toString() {
    return "RetryInterceptor{defaultPolicy="
        + defaultPolicy
        + ", classifier="
        + classifier
        + ", budget="
        + (budget != null ? budget : "per authority from " + budgetRegistry)
        + ", perCallBufferLimit="
        + perCallBufferLimit
        + ", totalBufferLimit="
        + totalBufferLimit
        + '}';
  }

  /**
   * Builds {@link RetryInterceptor}s. Each setter checks its argument at once; {@link #build()}
   * leaves the builder reusable.
   *
   * <p>Not thread-safe.
   */
  public static final class Builder {
    private @Nullable RetryPolicy defaultPolicy;
    private StatusClassifier classifier = StatusClassifier.defaultClassifier();
    private @Nullable RetryBudget budget;
    private @Nullable RetryBudgetRegistry budgetRegistry;
    private @Nullable ScheduledExecutorService scheduler;
    private Deadline.Ticker ticker = Deadline.getSystemTicker();
    private DoubleSupplier random = () -> ThreadLocalRandom.current().nextDouble();
    private long perCallBufferLimit = DEFAULT_PER_CALL_BUFFER_LIMIT;
    private long totalBufferLimit = DEFAULT_TOTAL_BUFFER_LIMIT;

    private Builder() {}

    /** Sets the policy of every method called through the interceptor. */
    public Builder defaultPolicy(RetryPolicy policy) {
      this.defaultPolicy = Objects.requireNonNull(policy, "defaultPolicy");
      return this;
    }

    /**
     * Sets what decides whether a failed attempt is worth another; {@link
     * StatusClassifier#defaultClassifier()} unless set.
     */
    public Builder classifier(StatusClassifier classifier) {
      this.classifier = Objects.requireNonNull(classifier, "classifier");
      return this;
    }

    /**
     * Sets the one budget asked before every retry of every call, whatever its target. Share one
     * budget between several interceptors to make them spend one allowance. Replaces a registry
     * set with {@link #retryBudgetRegistry}.
     *
     * <p>Unless a budget or a registry is set, each call uses the {@link TokenBucketBudget} of
     * its channel's authority from {@link RetryBudgetRegistry#shared()}.
     */
    public Builder retryBudget(RetryBudget budget) {
      this.budget = Objects.requireNonNull(budget, "retryBudget");
      this.budgetRegistry = null;
      return this;
    }

    /**
     * Sets the registry from which each call takes the budget of its channel's authority.
     * Replaces a budget set with {@link #retryBudget}.
     */
    public Builder retryBudgetRegistry(RetryBudgetRegistry registry) {
      this.budgetRegistry = Objects.requireNonNull(registry, "retryBudgetRegistry");
      this.budget = null;
      return this;
    }

    /**
     * Sets the executor of backoff and per-attempt timers. It only schedules; the interceptor never
     * shuts it down. Unless set, a process-wide daemon scheduler with one thread is used.
     */
    public Builder scheduler(ScheduledExecutorService scheduler) {
      this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
      return this;
    }

    /**
     * Sets the time source for deadlines and timers; the system ticker unless set. Tests use a
     * manual one together with a matching {@link #scheduler}; deadlines given to calls should then
     * be created with the same ticker.
     */
    public Builder ticker(Deadline.Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /**
     * Sets the source of the uniform draws in [0, 1) used for jitter; it is called from many
     * threads. Unless set, {@link ThreadLocalRandom} is used.
     */
    public Builder random(DoubleSupplier random) {
      this.random = Objects.requireNonNull(random, "random");
      return this;
    }

    /**
     * Sets how many request bytes one call may keep for replay; a call that sends more is
     * committed to its current attempt and not retried again.
     *
     * @throws IllegalArgumentException if {@code bytes < 0}
     */
    public Builder perCallBufferLimit(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("perCallBufferLimit must be >= 0: " + bytes);
      }
      this.perCallBufferLimit = bytes;
      return this;
    }

    /**
     * Sets how many request bytes all calls of the interceptor may keep for replay together; a
     * call whose message would pass the limit is committed to its current attempt and not retried
     * again.
     *
     * @throws IllegalArgumentException if {@code bytes < 0}
     */
    public Builder totalBufferLimit(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("totalBufferLimit must be >= 0: " + bytes);
      }
      this.totalBufferLimit = bytes;
      return this;
    }

    /**
     * Returns an interceptor with the builder's settings.
     *
     * @throws IllegalStateException if no policy was set
     */
    public RetryInterceptor build() {
      if (defaultPolicy == null) {
        throw new IllegalStateException(
            "RetryInterceptor has no policy: call defaultPolicy(RetryPolicy) before build()");
      }
      return new RetryInterceptor(this);
    }
  }
}
