package io.github.grpcretry;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
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
 * configuration is immutable; the state it holds is the count of request bytes buffered for
 * retries by all its calls and, unless a budget or registry was given, one retry budget per
 * authority it has called.
 */
public final class RetryInterceptor implements ClientInterceptor {
  /** Default limit of request bytes one call keeps for replay: 1 MiB, as in grpc-java. */
  public static final long DEFAULT_PER_CALL_BUFFER_LIMIT = 1L << 20;
  /** Default limit of request bytes all calls of one interceptor keep: 16 MiB, as in grpc-java. */
  public static final long DEFAULT_TOTAL_BUFFER_LIMIT = 16L << 20;
  /** Default cap on {@code maxAttempts} read from a service config: 5, as in grpc-java. */
  public static final int DEFAULT_MAX_ATTEMPTS_CAP = 5;

  /**
   * The {@link CallOptions} key that overrides the method's policy for one call, for example
   * {@code stub.withOption(RetryInterceptor.POLICY, RetryPolicy.noRetry())} to not retry it.
   */
  public static final CallOptions.Key<CallPolicy> POLICY = CallOptions.Key.create("grpc-retry.policy");

  /**
   * The trailer in which the application's {@code onClose} finds how many attempts a call made,
   * when it made more than one, whatever its outcome: {@code retry-attempts: 3}. Read it with an
   * interceptor above this one, for example grpc-java's {@code
   * MetadataUtils.newCaptureMetadataInterceptor}, or from a failed call's {@code
   * StatusRuntimeException.getTrailers()}.
   */
  public static final Metadata.Key<String> ATTEMPTS_TRAILER =
      Metadata.Key.of("retry-attempts", Metadata.ASCII_STRING_MARSHALLER);

  /** The request header that carries idempotency keys unless another is set: {@value}. */
  public static final String DEFAULT_IDEMPOTENCY_KEY_HEADER = "idempotency-key";

  /**
   * The {@link CallOptions} key through which the application gives a call its own idempotency
   * key, for example one derived from its business request, so that the application's own retry
   * of the same operation (after a crash, say) reuses it. Used only when the method's policy gives
   * calls keys; the value must be printable ASCII. Wins over {@link #IDEMPOTENCY_KEY_CONTEXT}.
   */
  public static final CallOptions.Key<String> IDEMPOTENCY_KEY =
      CallOptions.Key.create("grpc-retry.idempotency-key");

  /** The {@link Context} key through which the application gives a call its idempotency key. */
  public static final Context.Key<String> IDEMPOTENCY_KEY_CONTEXT =
      Context.key("grpc-retry.idempotency-key");

  private final Map<String, CallPolicy> methodPolicies;
  private final Map<String, CallPolicy> servicePolicies;
  private final @Nullable CallPolicy defaultPolicy;
  /** Each method's plan, worked out on its first call. */
  private final ConcurrentHashMap<MethodDescriptor<?, ?>, MethodPlan> plans =
      new ConcurrentHashMap<>();
  /** The plan of the method called last: most channels call one method again and again. */
  private volatile @Nullable MethodPlan lastPlan;
  private final CallRuntime runtime;
  private final UnknownMethodCheck unknownMethods;

  private RetryInterceptor(Builder b, @Nullable ParsedServiceConfig config) {
    Map<String, CallPolicy> methods = new LinkedHashMap<>();
    Map<String, CallPolicy> services = new LinkedHashMap<>();
    CallPolicy fallback = null;
    if (config != null) {
      methods.putAll(config.methodPolicies);
      services.putAll(config.servicePolicies);
      fallback = config.defaultPolicy;
    }
    // What the builder was told by name wins over the service config.
    methods.putAll(b.methodPolicies);
    services.putAll(b.servicePolicies);
    this.methodPolicies = Map.copyOf(methods);
    this.unknownMethods = new UnknownMethodCheck(methodPolicies.keySet());
    this.servicePolicies = Map.copyOf(services);
    this.defaultPolicy = b.defaultPolicy != null ? b.defaultPolicy : fallback;
    BudgetScope budgets;
    if (b.budget != null) {
      budgets = BudgetScope.given(b.budget);
    } else if (b.budgetRegistry != null) {
      budgets = BudgetScope.registry(b.budgetRegistry);
    } else if (config != null && config.hasThrottling()) {
      // The service config's retryThrottling, as grpc-java applies it: one budget per channel
      // (here: per interceptor), unless a budget was chosen explicitly.
      budgets =
          BudgetScope.given(
              RetryBudget.grpcRetryThrottling(
                  config.throttlingMaxTokens, config.throttlingTokenRatio));
    } else {
      budgets = BudgetScope.perInterceptor();
    }
    RetryListener listener = b.listeners.isEmpty() ? null : Listeners.combine(b.listeners);
    BreakerScope breakers =
        b.breaker != null
            ? BreakerScope.given(b.breaker)
            : b.breakerFactory != null
                ? BreakerScope.perTarget(b.breakerFactory, b.ticker, b.random)
                : BreakerScope.NONE;
    this.runtime =
        new CallRuntime(
            b.scheduler != null ? b.scheduler : DefaultScheduler.get(),
            b.ticker,
            b.random,
            b.classifier,
            new BufferMeter(b.perCallBufferLimit, b.totalBufferLimit),
            budgets.observedBy(listener),
            breakers.observedBy(listener),
            listener,
            Metadata.Key.of(b.idempotencyKeyHeader, Metadata.ASCII_STRING_MARSHALLER));
  }

  /** Returns a new builder. */
  public static Builder newBuilder() {
    return new Builder();
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions callOptions, Channel next) {
    CallPolicy chosen = callOptions.getOption(POLICY);
    MethodPlan plan = chosen != null ? MethodPlan.of(runtime, method, chosen) : planFor(method);
    if (plan.failure != null) {
      return new FailingCall<>(plan.failure);
    }
    if (plan.policy == null) {
      return next.newCall(method, callOptions);
    }
    if (plan.passThrough) {
      // Nothing to repeat and no attempt timer: at most a deadline to add.
      return next.newCall(method, withPolicyTimeout(callOptions, plan.timeoutNanos));
    }
    String authority = next.authority();
    return new RetryingCall<>(
        plan,
        method,
        callOptions,
        next,
        runtime.budgets.budgetFor(authority),
        runtime.breakers.breakerFor(authority));
  }

  /** The method's plan, resolved once: by full method name, then service, then default. */
  MethodPlan planFor(MethodDescriptor<?, ?> method) {
    MethodPlan plan = lastPlan;
    if (plan != null && plan.method == method) {
      return plan;
    }
    plan = plans.get(method);
    if (plan == null) {
      plan = plans.computeIfAbsent(method, this::resolve);
    }
    lastPlan = plan;
    return plan;
  }

  /** The method's policy, or null; see {@link #planFor}. */
  @Nullable CallPolicy policyFor(MethodDescriptor<?, ?> method) {
    return planFor(method).policy;
  }

  private MethodPlan resolve(MethodDescriptor<?, ?> method) {
    unknownMethods.onFirstResolve(method);
    CallPolicy policy = methodPolicies.get(method.getFullMethodName());
    if (policy == null) {
      String service = method.getServiceName();
      policy = service == null ? null : servicePolicies.get(service);
    }
    if (policy == null) {
      policy = defaultPolicy;
    }
    return policy == null ? MethodPlan.none(runtime, method) : MethodPlan.of(runtime, method, policy);
  }

  private CallOptions withPolicyTimeout(CallOptions callOptions, long timeoutNanos) {
    if (timeoutNanos == 0
        || callOptions.getDeadline() != null
        || Context.current().getDeadline() != null) {
      return callOptions;
    }
    return callOptions.withDeadline(
        Deadline.after(timeoutNanos, TimeUnit.NANOSECONDS, runtime.ticker));
  }

  /**
   * The circuit breaker that calls to {@code target} (a channel's authority) ask, or null if the
   * interceptor has none or has not called that target yet: for tests and operators, to see its
   * {@link CircuitBreaker#state()} and, for a {@link ClassicCircuitBreaker}, to drive it.
   */
  public @Nullable CircuitBreaker circuitBreaker(String target) {
    return runtime.breakers.existing(Objects.requireNonNull(target, "target"));
  }

  /**
   * The retry budget that calls to {@code target} (a channel's authority) spend, or null if the
   * interceptor keeps budgets per target and has none for it (it has not called it yet, or its
   * {@link RetryBudgetRegistry} dropped it): for metrics and operators, to read its {@link
   * RetryBudget#stats()}. Looking a budget up neither creates one nor keeps a registry's entry
   * alive. A budget given to {@link Builder#retryBudget} is returned for every target.
   */
  public @Nullable RetryBudget retryBudget(String target) {
    return runtime.budgets.existing(Objects.requireNonNull(target, "target"));
  }

  /** The number of request bytes that this interceptor's calls currently hold for replay. */
  public long bufferedBytes() {
    return runtime.buffers.reserved();
  }

  @Override
  public String toString() {
    return "RetryInterceptor{defaultPolicy="
        + defaultPolicy
        + ", servicePolicies="
        + servicePolicies
        + ", methodPolicies="
        + methodPolicies
        + ", classifier="
        + runtime.classifier
        + ", budget="
        + runtime.budgets
        + ", circuitBreaker="
        + runtime.breakers
        + ", perCallBufferLimit="
        + runtime.buffers.perCallLimit
        + ", totalBufferLimit="
        + runtime.buffers.totalLimit
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
    private final Map<String, CallPolicy> methodPolicies = new LinkedHashMap<>();
    private final Map<String, CallPolicy> servicePolicies = new LinkedHashMap<>();
    private @Nullable Object serviceConfig; // a String or a Map, checked when set
    private int maxAttemptsCap = DEFAULT_MAX_ATTEMPTS_CAP;
    private StatusClassifier classifier = StatusClassifier.defaultClassifier();
    private @Nullable RetryBudget budget;
    private @Nullable RetryBudgetRegistry budgetRegistry;
    private @Nullable ScheduledExecutorService scheduler;
    private Deadline.Ticker ticker = Deadline.getSystemTicker();
    private DoubleSupplier random = () -> ThreadLocalRandom.current().nextDouble();
    private long perCallBufferLimit = DEFAULT_PER_CALL_BUFFER_LIMIT;
    private long totalBufferLimit = DEFAULT_TOTAL_BUFFER_LIMIT;
    private String idempotencyKeyHeader = DEFAULT_IDEMPOTENCY_KEY_HEADER;
    private @Nullable CircuitBreaker breaker;
    private CircuitBreaker.@Nullable Factory breakerFactory;
    private final java.util.List<RetryListener> listeners = new java.util.ArrayList<>();

    private Builder() {}

    /**
     * Sets the policy of every method that has no policy of its own or of its service. Wins over
     * the default of a service config.
     */
    public Builder defaultPolicy(RetryPolicy policy) {
      this.defaultPolicy = Objects.requireNonNull(policy, "defaultPolicy");
      return this;
    }

    /**
     * Sets the policy of every method of {@code service} (its full name, {@code "pkg.Service"})
     * that has no policy of its own; replaces an earlier one for the same service and wins over a
     * service config's.
     *
     * @throws IllegalArgumentException unless the name has the form of a full service name: names
     *     joined by dots, without '/' or whitespace
     */
    public Builder servicePolicy(String service, RetryPolicy policy) {
      return servicePolicy(service, (CallPolicy) policy);
    }

    private Builder servicePolicy(String service, CallPolicy policy) {
      Checks.serviceName("service", service);
      servicePolicies.put(service, Objects.requireNonNull(policy, "servicePolicy"));
      return this;
    }

    /**
     * Sets the policy of one method, by full name ({@code "pkg.Service/Method"}); replaces an
     * earlier one for the same method and wins over a service config's. A name that is well formed
     * but names no method of its service (a typo) cannot be caught here: the interceptor logs a
     * warning on the first call of the service when its protobuf descriptor shows the method is
     * not there.
     *
     * @throws IllegalArgumentException unless the name has a service and a method around one '/',
     *     without whitespace
     */
    public Builder methodPolicy(String fullMethodName, RetryPolicy policy) {
      return methodPolicy(fullMethodName, (CallPolicy) policy);
    }

    private Builder methodPolicy(String fullMethodName, CallPolicy policy) {
      Checks.fullMethodName(fullMethodName);
      methodPolicies.put(fullMethodName, Objects.requireNonNull(policy, "methodPolicy"));
      return this;
    }

    /** Sets the policy of one method; see {@link #methodPolicy(String, RetryPolicy)}. */
    public Builder methodPolicy(MethodDescriptor<?, ?> method, RetryPolicy policy) {
      return methodPolicy(Objects.requireNonNull(method, "method").getFullMethodName(), policy);
    }

    /**
     * Hedges every method of {@code service} that has no policy of its own; see {@link
     * #servicePolicy(String, RetryPolicy)}. Each method must be safe to hedge (see {@link
     * HedgingPolicy.Builder#idempotent}); every call of one that is not ends at once with
     * {@code INTERNAL}, whose description says how to declare it.
     */
    public Builder servicePolicy(String service, HedgingPolicy policy) {
      return servicePolicy(service, (CallPolicy) policy);
    }

    /**
     * Hedges one method, by full name; see {@link #methodPolicy(String, RetryPolicy)}. The method
     * must be safe to hedge (see {@link HedgingPolicy.Builder#idempotent}); if it is not, every
     * call of it ends at once with {@code INTERNAL}, whose description says how to declare it.
     */
    public Builder methodPolicy(String fullMethodName, HedgingPolicy policy) {
      return methodPolicy(fullMethodName, (CallPolicy) policy);
    }

    /**
     * Hedges one method.
     *
     * @throws IllegalArgumentException if the method is not marked idempotent or side-effect free
     *     and the policy does not declare it {@link HedgingPolicy.Builder#idempotent}
     */
    public Builder methodPolicy(MethodDescriptor<?, ?> method, HedgingPolicy policy) {
      Objects.requireNonNull(method, "method");
      Objects.requireNonNull(policy, "methodPolicy");
      if (!policy.idempotent()
          && !policy.idempotencyKey()
          && !method.isIdempotent()
          && !method.isSafe()) {
        throw new IllegalArgumentException(
            MethodPlan.notSafeToHedge(method.getFullMethodName(), policy));
      }
      return methodPolicy(method.getFullMethodName(), (CallPolicy) policy);
    }

    /**
     * Takes per-method policies, timeouts and throttling from a gRPC service config in JSON, the
     * same document grpc-java's built-in retry reads. Policies set on this builder by name win
     * over the config's; its {@code retryThrottling} becomes this interceptor's budget unless one
     * was set with {@link #retryBudget} or {@link #retryBudgetRegistry}. Parts that are not about
     * retries are ignored. {@code maxAttempts} above {@link #maxAttemptsCap} are capped.
     *
     * @throws IllegalArgumentException if the config is malformed or breaks a rule; the message
     *     gives the JSON path, the rule and the value
     */
    public Builder serviceConfig(String json) {
      ServiceConfigParser.parse(Objects.requireNonNull(json, "serviceConfig"), maxAttemptsCap);
      this.serviceConfig = json;
      return this;
    }

    /**
     * Takes a service config in the {@code Map} form of grpc-java's {@code
     * ManagedChannelBuilder.defaultServiceConfig}; see {@link #serviceConfig(String)}.
     */
    public Builder serviceConfig(Map<String, ?> config) {
      ServiceConfigParser.parse(Objects.requireNonNull(config, "serviceConfig"), maxAttemptsCap);
      this.serviceConfig = config;
      return this;
    }

    /**
     * Sets the largest {@code maxAttempts} taken from a service config; larger values are
     * lowered to it, as gRFC A6 prescribes. 5 by default. Policies built with {@link
     * RetryPolicy.Builder} are not capped.
     *
     * @throws IllegalArgumentException if {@code cap < 2}
     */
    public Builder maxAttemptsCap(int cap) {
      if (cap < 2) {
        throw new IllegalArgumentException("maxAttemptsCap must be >= 2: " + cap);
      }
      this.maxAttemptsCap = cap;
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
     * <p>Unless a budget or a registry is set, the interceptor keeps a default {@link
     * TokenBucketBudget} of its own for each authority it calls: every channel it is attached to
     * spends the same one for the same target, and no other interceptor touches it.
     */
    public Builder retryBudget(RetryBudget budget) {
      this.budget = Objects.requireNonNull(budget, "retryBudget");
      this.budgetRegistry = null;
      return this;
    }

    /**
     * Sets the registry from which each call takes the budget of its channel's authority, to
     * share budgets per target between interceptors: {@link RetryBudgetRegistry#shared()} for
     * every interceptor of the process that is given it, or a registry of your own. Replaces a
     * budget set with {@link #retryBudget}.
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
     * Adds a listener of what the interceptor does (attempts, commits, refusals, closes; budgets
     * and breakers per target); several may be added and each hears every event, in the order
     * they were added. With none, no event is made at all.
     */
    public Builder addListener(RetryListener listener) {
      listeners.add(Objects.requireNonNull(listener, "listener"));
      return this;
    }

    /**
     * Asks one circuit breaker before every attempt of every call, whatever its target: share it
     * between interceptors to make them see one target's health together. Replaces a factory set
     * with {@link #circuitBreakers}. Off unless set: see the README for when to turn it on.
     */
    public Builder circuitBreaker(CircuitBreaker breaker) {
      this.breaker = Objects.requireNonNull(breaker, "circuitBreaker");
      this.breakerFactory = null;
      return this;
    }

    /**
     * Keeps one circuit breaker per target (authority), made by {@code factory} with this
     * interceptor's ticker and random source, and asks it before every attempt to that target,
     * for example {@code circuitBreakers(CircuitBreaker.classic().factory())} or {@code
     * circuitBreakers(CircuitBreaker.adaptiveThrottling().factory())}. Replaces a breaker set with
     * {@link #circuitBreaker}. Off unless set.
     */
    public Builder circuitBreakers(CircuitBreaker.Factory factory) {
      this.breakerFactory = Objects.requireNonNull(factory, "circuitBreakers");
      this.breaker = null;
      return this;
    }

    /**
     * Sets the request header that carries idempotency keys (see {@link
     * CallPolicy#idempotencyKey()}); {@value #DEFAULT_IDEMPOTENCY_KEY_HEADER} unless set. The
     * server's deduplication must read the same header.
     *
     * @throws IllegalArgumentException unless it is a valid ASCII header name: lower case
     *     letters, digits, {@code -}, {@code _} and {@code .}, not ending in {@code -bin}, and not
     *     starting with {@code grpc-}
     */
    public Builder idempotencyKeyHeader(String name) {
      Objects.requireNonNull(name, "idempotencyKeyHeader");
      if (name.endsWith(Metadata.BINARY_HEADER_SUFFIX) || name.startsWith("grpc-")) {
        throw new IllegalArgumentException(
            "idempotencyKeyHeader must be an ASCII header name, not ending in -bin and not"
                + " starting with grpc-: \"" + name + "\"");
      }
      try {
        Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "idempotencyKeyHeader must be a valid header name (lower case letters, digits, '-',"
                + " '_' and '.'): \"" + name + "\"",
            e);
      }
      this.idempotencyKeyHeader = name;
      return this;
    }

    /**
     * Returns an interceptor with the builder's settings; the builder stays usable.
     *
     * @throws IllegalStateException if no policy was set in any way
     */
    @SuppressWarnings("unchecked")
    public RetryInterceptor build() {
      ParsedServiceConfig config = null;
      if (serviceConfig instanceof String) {
        config = ServiceConfigParser.parse((String) serviceConfig, maxAttemptsCap);
      } else if (serviceConfig != null) {
        config = ServiceConfigParser.parse((Map<String, ?>) serviceConfig, maxAttemptsCap);
      }
      if (defaultPolicy == null
          && methodPolicies.isEmpty()
          && servicePolicies.isEmpty()
          && config == null) {
        throw new IllegalStateException(
            "RetryInterceptor has no policy: set defaultPolicy, servicePolicy, methodPolicy or"
                + " serviceConfig before build()");
      }
      return new RetryInterceptor(this, config);
    }
  }
}
