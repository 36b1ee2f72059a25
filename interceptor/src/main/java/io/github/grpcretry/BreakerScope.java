package io.github.grpcretry;

import io.grpc.Deadline;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.DoubleSupplier;
import org.jspecify.annotations.Nullable;

/**
 * Which {@link CircuitBreaker} a call of one interceptor asks: none (the default), the one given
 * to the builder, or one per target made by a factory and kept for the interceptor's life.
 *
 * <p>Thread-safe.
 */
final class BreakerScope {
  static final BreakerScope NONE =
      new BreakerScope(null, null, Deadline.getSystemTicker(), () -> 0, null);

  private final @Nullable CircuitBreaker given;
  private final CircuitBreaker.@Nullable Factory factory;
  private final Deadline.Ticker ticker;
  private final DoubleSupplier random;
  private final ConcurrentHashMap<String, CircuitBreaker> perTarget = new ConcurrentHashMap<>();
  private volatile @Nullable Target last;
  /** Set when the interceptor has a listener: every breaker handed out is watched for it. */
  private final @Nullable RetryListener listener;

  private record Target(String authority, CircuitBreaker breaker) {}

  private BreakerScope(
      @Nullable CircuitBreaker given,
      CircuitBreaker.@Nullable Factory factory,
      Deadline.Ticker ticker,
      DoubleSupplier random,
      @Nullable RetryListener listener) {
    this.listener = listener;
    this.given =
        given == null || listener == null
            ? given
            : new ObservedBreaker(given, "every target", listener);
    this.factory = factory;
    this.ticker = ticker;
    this.random = random;
  }

  static BreakerScope given(CircuitBreaker breaker) {
    return new BreakerScope(breaker, null, Deadline.getSystemTicker(), () -> 0, null);
  }

  static BreakerScope perTarget(
      CircuitBreaker.Factory factory, Deadline.Ticker ticker, DoubleSupplier random) {
    return new BreakerScope(null, factory, ticker, random, null);
  }

  /** The same scope, with every breaker it hands out watched for {@code listener}. */
  BreakerScope observedBy(@Nullable RetryListener listener) {
    if (listener == null || (given == null && factory == null)) {
      return this;
    }
    CircuitBreaker unwatched = given instanceof ObservedBreaker ? ((ObservedBreaker) given).watched() : given;
    return new BreakerScope(unwatched, factory, ticker, random, listener);
  }

  /** Whether the interceptor has a breaker, given or made per target. */
  boolean any() {
    return given != null || factory != null;
  }

  /** The breaker of a call to {@code authority}, or null if the interceptor has none. */
  @Nullable CircuitBreaker breakerFor(String authority) {
    if (given != null || factory == null) {
      return given;
    }
    Target target = last;
    if (target != null && target.authority().equals(authority)) {
      return target.breaker();
    }
    CircuitBreaker breaker = perTarget.computeIfAbsent(authority, this::create);
    last = new Target(authority, breaker);
    return breaker;
  }

  private CircuitBreaker create(String authority) {
    CircuitBreaker breaker = factory.create(authority, ticker, random);
    if (breaker == null) {
      throw new NullPointerException("the CircuitBreaker.Factory returned null for " + authority);
    }
    return listener == null ? breaker : new ObservedBreaker(breaker, authority, listener);
  }

  /** The breaker of {@code authority} if there is one already, else null. */
  @Nullable CircuitBreaker existing(String authority) {
    CircuitBreaker breaker = given != null ? given : perTarget.get(authority);
    return breaker instanceof ObservedBreaker ? ((ObservedBreaker) breaker).watched() : breaker;
  }

  @Override
  public String toString() {
    return given != null
        ? given.toString()
        : factory != null ? "one per authority (" + perTarget.size() + " targets)" : "none";
  }
}
