package io.github.grpcretry.idempotency;

import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import org.jspecify.annotations.Nullable;

/**
 * A {@link ServerInterceptor} that executes a request carrying an idempotency key once, and answers
 * every duplicate with the outcome of that one execution.
 *
 * <p>A request is a duplicate of another when it has the same {@linkplain CallerScope caller
 * scope}, the same method and the same key (header {@value #DEFAULT_HEADER_NAME} by default). For
 * a keyed request to a method enabled with {@link Builder#method}:
 *
 * <ul>
 *   <li>the first one executes; the outcome it sends (response headers, messages, status and
 *       trailers) is kept in the {@link IdempotencyStore} if its status code is one of {@link
 *       Builder#storedCodes} and it is at most {@link Builder#maxResponseBytes} long;
 *   <li>a duplicate that arrives while the first still runs waits for it and receives the same
 *       outcome; if that outcome is not kept (its code is not stored, it is too long, the handler
 *       failed or never finished), one waiting duplicate executes in its place and the others wait
 *       for that one;
 *   <li>a duplicate that arrives later receives the kept outcome, with the trailer {@link
 *       #REPLAYED_KEY}{@code : true}, for as long as the store keeps it;
 *   <li>a request that reuses a key with a different request message (compared by the SHA-256 of
 *       the message as the method's marshaller serializes it) is refused with {@code
 *       INVALID_ARGUMENT}, never answered with the other request's outcome.
 * </ul>
 *
 * <p>Requests without the key header, and requests to methods not enabled, pass through untouched.
 * Malformed keys are refused with {@code INVALID_ARGUMENT}, keyed requests whose caller scope is
 * unknown with {@code UNAUTHENTICATED}, and keyed requests the store cannot answer with {@code
 * UNAVAILABLE}; none of these executes.
 *
 * <pre>{@code
 * IdempotencyInterceptor idempotency = IdempotencyInterceptor.newBuilder()
 *     .method(OrderServiceGrpc.getCreateOrderMethod())
 *     .callerScope(CallerScope.tlsPeer())
 *     .build();
 * server.addService(ServerInterceptors.intercept(new OrderService(), idempotency));
 * }</pre>
 *
 * <p>Threading: a handler runs on the thread gRPC delivers the request on, as without this
 * interceptor, unless the request first had to wait (for another request, or for a store that
 * answers later): then it runs on the {@link Builder#executor}. A kept outcome found on arrival is
 * replayed on gRPC's thread; one that a duplicate waited for, from the executor.
 *
 * <p>Thread-safe: one instance may serve any number of services and calls at once. Its
 * configuration is immutable; its state is in the store.
 */
public final class IdempotencyInterceptor implements ServerInterceptor {
  /** The request header that carries the key, unless {@link Builder#headerName} says otherwise. */
  public static final String DEFAULT_HEADER_NAME = "idempotency-key";
  /** The default longest key accepted: 255 characters, as Stripe accepts. */
  public static final int DEFAULT_MAX_KEY_LENGTH = 255;
  /** The default longest outcome kept: 1 MiB in its encoded form. */
  public static final long DEFAULT_MAX_RESPONSE_BYTES = 1L << 20;
  /** The default time a handler may still take to finish after its call ended: 30 seconds. */
  public static final Duration DEFAULT_HANDLER_GRACE_PERIOD = Duration.ofSeconds(30);
  /** The longest key that {@link Builder#maxKeyLength} may allow. */
  public static final int MAX_KEY_LENGTH_LIMIT = 4096;
  /** The largest outcome that {@link Builder#maxResponseBytes} may allow: 1 GiB. */
  public static final long MAX_RESPONSE_BYTES_LIMIT = 1L << 30;

  /** The trailer that marks an outcome this request did not execute itself: {@code true}. */
  public static final Metadata.Key<String> REPLAYED_KEY =
      Metadata.Key.of("idempotency-replayed", Metadata.ASCII_STRING_MARSHALLER);

  /** Codes whose outcome is never kept: after them a retry must really run again. */
  private static final Set<Status.Code> NEVER_STORED =
      EnumSet.of(
          Status.Code.CANCELLED,
          Status.Code.DEADLINE_EXCEEDED,
          Status.Code.UNAVAILABLE,
          Status.Code.RESOURCE_EXHAUSTED);

  private static final String SINGLE_CALLER_SCOPE = "";

  final Metadata.Key<String> headerKey;
  final int maxKeyLength;
  private final Map<String, MethodDescriptor<?, ?>> methods;
  private final @Nullable CallerScope callerScope;
  final IdempotencyStore store;
  private final EnumSet<Status.Code> storedCodes;
  final long maxResponseBytes;
  final long handlerGraceNanos;
  final Executor executor;
  final ScheduledExecutorService scheduler;

  private IdempotencyInterceptor(Builder b, @Nullable CallerScope scope) {
    this.headerKey = Metadata.Key.of(b.headerName, Metadata.ASCII_STRING_MARSHALLER);
    this.maxKeyLength = b.maxKeyLength;
    this.methods = Map.copyOf(b.methods);
    this.callerScope = scope;
    this.store = b.store != null ? b.store : CaffeineIdempotencyStore.create();
    this.storedCodes = EnumSet.copyOf(b.storedCodes);
    this.maxResponseBytes = b.maxResponseBytes;
    this.handlerGraceNanos = b.handlerGracePeriod.toNanos();
    this.executor = b.executor != null ? b.executor : Defaults.executor();
    this.scheduler = b.scheduler != null ? b.scheduler : Defaults.scheduler();
  }

  /** Returns a new builder. */
  public static Builder newBuilder() {
    return new Builder();
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    Iterable<String> values = headers.getAll(headerKey);
    if (values == null
        || !methods.containsKey(call.getMethodDescriptor().getFullMethodName())) {
      return next.startCall(call, headers);
    }
    Iterator<String> it = values.iterator();
    String key = it.next();
    String problem = it.hasNext() ? "must be sent once, was sent more than once" : checkKey(key);
    if (problem != null) {
      return refuse(
          call,
          Status.INVALID_ARGUMENT.withDescription(
              "request header " + headerKey.name() + " " + problem));
    }
    String scope;
    if (callerScope == null) {
      scope = SINGLE_CALLER_SCOPE;
    } else {
      try {
        scope = callerScope.scopeOf(call, headers);
      } catch (RuntimeException e) {
        return refuse(
            call,
            Status.INTERNAL
                .withDescription("the caller scope of the idempotency key failed")
                .withCause(e));
      }
      if (scope == null) {
        return refuse(
            call,
            Status.UNAUTHENTICATED.withDescription(
                "the caller of a request with "
                    + headerKey.name()
                    + " is not known, so the key cannot be kept apart from other callers'"));
      }
    }
    IdempotencyKey id =
        IdempotencyKey.of(scope, call.getMethodDescriptor().getFullMethodName(), key);
    DedupCall<ReqT, RespT> dedup =
        new DedupCall<>(this, call, headers, next, id, Context.current());
    call.request(2); // the one request, and a second to tell a client that sends too many
    return dedup;
  }

  /** Whether an outcome with this code may be kept. */
  boolean stores(Status.Code code) {
    return storedCodes.contains(code);
  }

  private @Nullable String checkKey(String key) {
    if (key.isEmpty() || key.length() > maxKeyLength) {
      return "must have 1 to " + maxKeyLength + " characters, had " + key.length();
    }
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      if (c <= ' ' || c > '~') {
        return "must be visible ASCII characters only (no spaces), had one at index " + i;
      }
    }
    return null;
  }

  private static <ReqT> ServerCall.Listener<ReqT> refuse(ServerCall<ReqT, ?> call, Status status) {
    call.close(status, new Metadata());
    return new ServerCall.Listener<>() {};
  }

  @Override
  public String toString() {
    return "IdempotencyInterceptor{header="
        + headerKey.name()
        + ", methods="
        + methods.keySet()
        + ", callerScope="
        + (callerScope == null ? "singleTrustedCaller" : callerScope)
        + ", store="
        + store
        + ", storedCodes="
        + storedCodes
        + "}";
  }

  /**
   * Builds an {@link IdempotencyInterceptor}. Each setter checks its argument at once; {@link
   * #build()} checks that at least one method is enabled and that the caller scope was chosen.
   *
   * <p>Not thread-safe; {@code build()} leaves the builder reusable.
   */
  public static final class Builder {
    private String headerName = DEFAULT_HEADER_NAME;
    private int maxKeyLength = DEFAULT_MAX_KEY_LENGTH;
    private final Map<String, MethodDescriptor<?, ?>> methods = new LinkedHashMap<>();
    private @Nullable CallerScope callerScope;
    private boolean singleTrustedCaller;
    private @Nullable IdempotencyStore store;
    private EnumSet<Status.Code> storedCodes = defaultStoredCodes();
    private long maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES;
    private Duration handlerGracePeriod = DEFAULT_HANDLER_GRACE_PERIOD;
    private @Nullable Executor executor;
    private @Nullable ScheduledExecutorService scheduler;

    private Builder() {}

    /**
     * Deduplicates keyed requests to {@code method}. Unary and server-streaming methods only: a
     * client-streaming or bidirectional request cannot be compared with its duplicate before it
     * has been read whole, and a bidirectional response depends on when each request arrived.
     *
     * @throws IllegalArgumentException if the method is neither unary nor server streaming, or
     *     another method of the same name was enabled
     */
    public Builder method(MethodDescriptor<?, ?> method) {
      Objects.requireNonNull(method, "method");
      MethodDescriptor.MethodType type = method.getType();
      if (type != MethodDescriptor.MethodType.UNARY
          && type != MethodDescriptor.MethodType.SERVER_STREAMING) {
        throw new IllegalArgumentException(
            "method must be UNARY or SERVER_STREAMING to take idempotency keys: "
                + method.getFullMethodName()
                + " is "
                + type
                + " (a streamed request cannot be compared with its duplicate before it has been"
                + " read whole)");
      }
      MethodDescriptor<?, ?> earlier = methods.get(method.getFullMethodName());
      if (earlier != null && earlier != method) {
        throw new IllegalArgumentException(
            "method must be enabled once per name: another descriptor of "
                + method.getFullMethodName()
                + " was enabled already");
      }
      methods.put(method.getFullMethodName(), method);
      return this;
    }

    /**
     * Takes the caller scope from {@code scope}; required unless {@link #singleTrustedCaller()}.
     *
     * @throws IllegalStateException if {@link #singleTrustedCaller()} was chosen
     */
    public Builder callerScope(CallerScope scope) {
      Objects.requireNonNull(scope, "scope");
      if (singleTrustedCaller) {
        throw new IllegalStateException(
            "callerScope(...) and singleTrustedCaller() exclude each other: singleTrustedCaller()"
                + " was chosen already");
      }
      this.callerScope = scope;
      return this;
    }

    /**
     * Declares that every caller of these methods is one and the same trusted caller, so that all
     * keys share one scope: a key sent by anyone may then be answered with the outcome of anyone's
     * request with that key. Only for a server that one trusted client reaches.
     *
     * @throws IllegalStateException if a {@link #callerScope} was given
     */
    public Builder singleTrustedCaller() {
      if (callerScope != null) {
        throw new IllegalStateException(
            "callerScope(...) and singleTrustedCaller() exclude each other: callerScope("
                + callerScope
                + ") was given already");
      }
      this.singleTrustedCaller = true;
      return this;
    }

    /**
     * Sets where claims and outcomes are kept; by default a {@link CaffeineIdempotencyStore} with
     * its defaults, a new one for each {@link #build()}.
     */
    public Builder store(IdempotencyStore store) {
      this.store = Objects.requireNonNull(store, "store");
      return this;
    }

    /**
     * Sets the request header that carries the key; {@value #DEFAULT_HEADER_NAME} by default.
     *
     * @throws IllegalArgumentException if the name is not a valid ASCII header name, ends with
     *     {@code -bin}, or starts with {@code grpc-}, which gRPC reserves
     */
    public Builder headerName(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isEmpty()
          || !name.chars().allMatch(c -> (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.')) {
        throw new IllegalArgumentException(
            "headerName must be lower-case letters, digits, '-', '_' or '.': \"" + name + "\"");
      }
      if (name.endsWith(Metadata.BINARY_HEADER_SUFFIX) || name.startsWith("grpc-")) {
        throw new IllegalArgumentException(
            "headerName must not end with -bin (the key is text) or start with grpc- (reserved): \""
                + name
                + "\"");
      }
      this.headerName = name;
      return this;
    }

    /**
     * Sets the longest key accepted, in characters; {@value #DEFAULT_MAX_KEY_LENGTH} by default.
     * Longer keys are refused with {@code INVALID_ARGUMENT}.
     *
     * @throws IllegalArgumentException unless {@code 1 <= length <= } {@value
     *     #MAX_KEY_LENGTH_LIMIT}
     */
    public Builder maxKeyLength(int length) {
      if (length < 1 || length > MAX_KEY_LENGTH_LIMIT) {
        throw new IllegalArgumentException(
            "maxKeyLength must be between 1 and " + MAX_KEY_LENGTH_LIMIT + ": " + length);
      }
      this.maxKeyLength = length;
      return this;
    }

    /** See {@link #storedCodes(Collection)}. */
    public Builder storedCodes(Status.Code... codes) {
      Objects.requireNonNull(codes, "codes");
      return storedCodes(Arrays.asList(codes));
    }

    /**
     * Sets the status codes whose outcomes are kept and replayed. By default OK and the
     * application's own errors: every code except {@code CANCELLED}, {@code DEADLINE_EXCEEDED},
     * {@code UNAVAILABLE}, {@code RESOURCE_EXHAUSTED} (never stored) and {@code ABORTED}.
     *
     * <p>{@code ABORTED} says the operation did not take place (a transaction conflict, AIP-194)
     * and is meant to be retried as a whole; keeping it would answer that retry with the conflict
     * again, so it is left out unless listed here.
     *
     * @throws IllegalArgumentException if {@code codes} lacks OK, or holds {@code CANCELLED},
     *     {@code DEADLINE_EXCEEDED}, {@code UNAVAILABLE} or {@code RESOURCE_EXHAUSTED}
     */
    public Builder storedCodes(Collection<Status.Code> codes) {
      Objects.requireNonNull(codes, "codes");
      EnumSet<Status.Code> set = EnumSet.noneOf(Status.Code.class);
      for (Status.Code code : codes) {
        set.add(Objects.requireNonNull(code, "codes element"));
      }
      if (!set.contains(Status.Code.OK)) {
        throw new IllegalArgumentException(
            "storedCodes must contain OK (a success that is not kept executes again on every"
                + " retry): " + set);
      }
      EnumSet<Status.Code> forbidden = EnumSet.copyOf(set);
      forbidden.retainAll(NEVER_STORED);
      if (!forbidden.isEmpty()) {
        throw new IllegalArgumentException(
            "storedCodes must not contain "
                + NEVER_STORED
                + " (transient or cut-short outcomes: a retry after them must really run again): "
                + forbidden);
      }
      this.storedCodes = set;
      return this;
    }

    /**
     * Sets the longest outcome kept, in bytes of its encoded form (response headers, messages,
     * status and trailers); 1 MiB by default. A response stream that grows longer still reaches
     * its caller, but is not kept: a later duplicate executes again, and so does one of the
     * duplicates that waited for it.
     *
     * @throws IllegalArgumentException unless {@code 1 <= bytes <= } 1 GiB
     */
    public Builder maxResponseBytes(long bytes) {
      if (bytes < 1 || bytes > MAX_RESPONSE_BYTES_LIMIT) {
        throw new IllegalArgumentException(
            "maxResponseBytes must be between 1 and " + MAX_RESPONSE_BYTES_LIMIT + ": " + bytes);
      }
      this.maxResponseBytes = bytes;
      return this;
    }

    /**
     * Sets how long the claim of a request whose call ended (cancelled by its client, or its
     * deadline passed) stays held for a handler that has not finished yet; 30 seconds by default.
     * A handler that finishes within it still has its outcome kept and replayed to the waiting
     * duplicates; after it the claim is released and one duplicate executes.
     *
     * @throws IllegalArgumentException if the period is negative
     */
    public Builder handlerGracePeriod(Duration period) {
      Objects.requireNonNull(period, "period");
      if (period.isNegative()) {
        throw new IllegalArgumentException("handlerGracePeriod must be >= 0: " + period);
      }
      if (period.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException("handlerGracePeriod must be at most 1 day: " + period);
      }
      this.handlerGracePeriod = period;
      return this;
    }

    /**
     * Sets where a request resumes after it waited (for the request it duplicates, or for a store
     * that answers later): its handler runs there, or its replay is sent from there. Give it the
     * server's executor so that handlers run where they always do; by default a shared pool of
     * daemon threads that grows as needed.
     */
    public Builder executor(Executor executor) {
      this.executor = Objects.requireNonNull(executor, "executor");
      return this;
    }

    /**
     * Sets the timer of {@link #handlerGracePeriod}; by default one daemon thread shared by the
     * process.
     */
    public Builder scheduler(ScheduledExecutorService scheduler) {
      this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
      return this;
    }

    /**
     * Returns a new interceptor.
     *
     * @throws IllegalStateException if no method was enabled, or neither {@link #callerScope} nor
     *     {@link #singleTrustedCaller()} was chosen
     */
    public IdempotencyInterceptor build() {
      if (methods.isEmpty()) {
        throw new IllegalStateException(
            "at least one method must be enabled with method(...): without one nothing is"
                + " deduplicated");
      }
      if (callerScope == null && !singleTrustedCaller) {
        throw new IllegalStateException(
            "a caller scope is required, so that one caller's key never returns another's"
                + " response: give callerScope(...) (for example CallerScope.tlsPeer()), or"
                + " singleTrustedCaller() if one trusted client is the only caller");
      }
      return new IdempotencyInterceptor(this, callerScope);
    }

    private static EnumSet<Status.Code> defaultStoredCodes() {
      EnumSet<Status.Code> codes = EnumSet.allOf(Status.Code.class);
      codes.removeAll(NEVER_STORED);
      codes.remove(Status.Code.ABORTED);
      return codes;
    }
  }
}
