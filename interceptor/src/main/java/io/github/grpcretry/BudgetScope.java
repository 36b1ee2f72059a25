package io.github.grpcretry;

import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * Which {@link RetryBudget} a call of one interceptor spends: the one given to the builder, the
 * one a registry keeps for the call's target, or, by default, the interceptor's own budget for
 * that target, shared by every channel the interceptor is attached to and by nothing else.
 *
 * <p>Thread-safe. The default scope looks up its last target first (most interceptors talk to one
 * target) and keeps one budget per target for the interceptor's life.
 */
final class BudgetScope {
  private final @Nullable RetryBudget given;
  private final @Nullable RetryBudgetRegistry registry;
  private final ConcurrentHashMap<String, RetryBudget> own = new ConcurrentHashMap<>();
  private volatile @Nullable Target last;
  /** Set when the interceptor has a listener: every budget handed out is watched for it. */
  private final @Nullable RetryListener listener;

  private record Target(String authority, RetryBudget budget) {}

  private BudgetScope(
      @Nullable RetryBudget given,
      @Nullable RetryBudgetRegistry registry,
      @Nullable RetryListener listener) {
    this.listener = listener;
    this.given =
        given == null || listener == null
            ? given
            : new ObservedBudget(given, "every target", listener);
    this.registry = registry;
  }

  /** The same scope, with every budget it hands out watched for {@code listener}. */
  BudgetScope observedBy(@Nullable RetryListener listener) {
    if (listener == null) {
      return this;
    }
    return new BudgetScope(given, registry, listener);
  }

  static BudgetScope given(RetryBudget budget) {
    return new BudgetScope(budget, null, null);
  }

  static BudgetScope registry(RetryBudgetRegistry registry) {
    return new BudgetScope(null, registry, null);
  }

  static BudgetScope perInterceptor() {
    return new BudgetScope(null, null, null);
  }

  /** The budget of a call to {@code authority}. */
  RetryBudget budgetFor(String authority) {
    if (given != null) {
      return given;
    }
    if (registry != null) {
      RetryBudget shared = registry.budgetFor(authority);
      if (listener == null) {
        return shared;
      }
      // The registry may have replaced an expired budget: watch the one it hands out now.
      RetryBudget watched = own.get(authority);
      if (watched == null || ((ObservedBudget) watched).watches() != shared) {
        watched = new ObservedBudget(shared, authority, listener);
        own.put(authority, watched);
      }
      return watched;
    }
    Target target = last;
    if (target != null && target.authority().equals(authority)) {
      return target.budget();
    }
    RetryBudget budget =
        own.computeIfAbsent(
            authority,
            a ->
                listener == null
                    ? TokenBucketBudget.create()
                    : new ObservedBudget(TokenBucketBudget.create(), a, listener));
    last = new Target(authority, budget);
    return budget;
  }

  /**
   * The budget calls to {@code authority} spend, if there is one already, else null; the
   * interceptor's watching wrapper removed.
   */
  @Nullable RetryBudget existing(String authority) {
    if (given != null) {
      return unwatched(given);
    }
    if (registry != null) {
      return registry.existing(authority);
    }
    RetryBudget budget = own.get(authority);
    return budget == null ? null : unwatched(budget);
  }

  private static RetryBudget unwatched(RetryBudget budget) {
    return budget instanceof ObservedBudget ? ((ObservedBudget) budget).watches() : budget;
  }

  /** Says which budget a call to {@code authority} spent, and what it holds now, for a person. */
  String describe(RetryBudget budget, String authority) {
    String scope =
        given != null
            ? "the budget given to RetryInterceptor.Builder.retryBudget"
            : registry != null
                ? "the budget of \"" + authority + "\" in the RetryBudgetRegistry"
                : "this interceptor's budget for \"" + authority + "\"";
    BudgetStats stats = budget.stats();
    return scope
        + (stats == BudgetStats.NOT_AVAILABLE ? ": " + budget : ", " + stats);
  }

  @Override
  public String toString() {
    return given != null
        ? given.toString()
        : registry != null
            ? "per authority from " + registry
            : "per authority, this interceptor's own (" + own.size() + " targets)";
  }
}
