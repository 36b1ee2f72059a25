package io.github.grpcretry;

import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.LoadingCache;
import io.grpc.Deadline;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * One {@link RetryBudget} per target, so that every channel and interceptor that calls the same
 * authority spends one shared allowance.
 *
 * <p>Entries that no call has used for {@code expireAfterAccess} are dropped, so a process that
 * talks to thousands of targets over its life holds budgets only for those it talks to now. A
 * dropped target starts over with a fresh budget when it is called again.
 *
 * <p>An interceptor uses a registry only when given one ({@link
 * RetryInterceptor.Builder#retryBudgetRegistry}); without, it keeps budgets of its own. Give
 * several interceptors {@link #shared()}, or a registry of your own, to make them spend one budget
 * per target.
 *
 * <p>Thread-safe.
 */
public final class RetryBudgetRegistry {
  private static final Duration DEFAULT_EXPIRY = Duration.ofMinutes(10);

  private final LoadingCache<String, RetryBudget> budgets;
  private final Function<String, RetryBudget> factory;
  private final Duration expireAfterAccess;

  private RetryBudgetRegistry(Builder b) {
    this.factory = b.factory;
    this.expireAfterAccess = b.expireAfterAccess;
    Function<String, RetryBudget> create = this.factory;
    Deadline.Ticker ticker = b.ticker;
    this.budgets =
        Caffeine.newBuilder()
            .expireAfterAccess(expireAfterAccess)
            .ticker(ticker::nanoTime)
            // Housekeeping is a few pointer moves: doing it on the caller's thread keeps expiry
            // deterministic and needs no pool.
            .executor(Runnable::run)
            .build(
                authority ->
                    Objects.requireNonNull(
                        create.apply(authority), "budgetFactory returned null for " + authority));
  }

  /**
   * One registry for the whole process, for interceptors that should all share one budget per
   * target: default token buckets per authority. Only interceptors given it use it.
   */
  public static RetryBudgetRegistry shared() {
    return SharedHolder.INSTANCE;
  }

  /** Returns a builder: default token buckets, entries dropped after 10 minutes unused. */
  public static Builder newBuilder() {
    return new Builder();
  }

  /**
   * Returns the budget of {@code authority}, creating it on first use.
   *
   * @throws NullPointerException if the factory returns null
   */
  public RetryBudget budgetFor(String authority) {
    return budgets.get(Objects.requireNonNull(authority, "authority"));
  }

  /**
   * The budget of {@code authority} if the registry holds one, else null; without counting as a
   * use, so that looking at a budget for metrics does not keep it from expiring.
   */
  @Nullable RetryBudget existing(String authority) {
    return budgets.policy().getIfPresentQuietly(authority);
  }

  /** The approximate number of targets with a budget now. */
  public long estimatedSize() {
    return budgets.estimatedSize();
  }

  /** Drops expired entries now rather than on later use; for tests and metrics. */
  public void cleanUp() {
    budgets.cleanUp();
  }

  @Override
  public String toString() {
    return "RetryBudgetRegistry{expireAfterAccess=" + expireAfterAccess + ", targets=" + estimatedSize() + '}';
  }

  private static final class SharedHolder {
    static final RetryBudgetRegistry INSTANCE = newBuilder().build();
  }

  /**
   * Builds {@link RetryBudgetRegistry} instances. Each setter checks its argument at once.
   *
   * <p>Not thread-safe.
   */
  public static final class Builder {
    private Function<String, RetryBudget> factory = authority -> TokenBucketBudget.create();
    private Duration expireAfterAccess = DEFAULT_EXPIRY;
    private Deadline.Ticker ticker = Deadline.getSystemTicker();

    private Builder() {}

    /** Sets how a target's budget is made; a default {@link TokenBucketBudget} unless set. */
    public Builder budgetFactory(Function<String, RetryBudget> factory) {
      this.factory = Objects.requireNonNull(factory, "budgetFactory");
      return this;
    }

    /**
     * Sets how long a budget no call has used is kept; 10 minutes unless set.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder expireAfterAccess(Duration expireAfterAccess) {
      Checks.positiveNanos("expireAfterAccess", expireAfterAccess);
      this.expireAfterAccess = expireAfterAccess;
      return this;
    }

    /** Sets the time source of expiry; the system ticker unless set (tests use a manual one). */
    public Builder ticker(Deadline.Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /** Returns a registry; the builder stays usable. */
    public RetryBudgetRegistry build() {
      return new RetryBudgetRegistry(this);
    }
  }
}
