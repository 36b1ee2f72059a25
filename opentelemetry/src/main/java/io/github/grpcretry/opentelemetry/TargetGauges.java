package io.github.grpcretry.opentelemetry;

import io.github.grpcretry.CircuitBreaker;
import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.RetryInterceptor;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.metrics.Meter;
import io.opentelemetry.api.metrics.ObservableDoubleGauge;
import io.opentelemetry.api.metrics.ObservableDoubleMeasurement;
import io.opentelemetry.api.metrics.ObservableLongGauge;
import io.opentelemetry.api.metrics.ObservableLongMeasurement;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The per-target gauges: the targets the listener heard of, and the interceptors to ask for their
 * budgets and breakers when the SDK collects.
 *
 * <p>Thread-safe: the sets are concurrent; the callbacks run on the SDK's collecting thread.
 */
final class TargetGauges {
  /** The most targets that get gauges: a bound on their series whatever the target filter. */
  static final int MAX_TARGETS = 1000;

  private static final Logger logger = Logger.getLogger(RetryMetrics.class.getName());

  private final Set<String> targets = ConcurrentHashMap.newKeySet();
  private final List<RetryInterceptor> interceptors = new CopyOnWriteArrayList<>();
  private final AtomicBoolean warnedFull = new AtomicBoolean();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final ObservableDoubleGauge tokens;
  private final ObservableLongGauge state;

  TargetGauges(Meter meter) {
    this.tokens =
        meter
            .gaugeBuilder(RetryMetrics.BUDGET_TOKENS)
            .setUnit("{token}")
            .setDescription(
                "Tokens in the target's retry budget now; retries are refused while it is empty"
                    + " (or, for gRFC A6 throttling, at or below half full).")
            .buildWithCallback(this::recordTokens);
    this.state =
        meter
            .gaugeBuilder(RetryMetrics.BREAKER_STATE)
            .ofLongs()
            .setUnit("{state}")
            .setDescription(
                "The target's circuit breaker state now: 0 closed, 1 half-open, 2 open,"
                    + " 3 throttling.")
            .buildWithCallback(this::recordStates);
  }

  /** The listener heard of a call to {@code target}. */
  void target(String target) {
    if (targets.contains(target)) {
      return;
    }
    if (targets.size() >= MAX_TARGETS) {
      if (warnedFull.compareAndSet(false, true)) {
        logger.warning(
            "RetryMetrics gauges cover at most "
                + MAX_TARGETS
                + " targets; "
                + target
                + " and later ones get none. Set RetryMetrics.Builder.targetAttributeFilter to"
                + " choose the targets to watch.");
      }
      return;
    }
    targets.add(target);
  }

  void observe(RetryInterceptor interceptor) {
    if (closed.get()) {
      throw new IllegalStateException("RetryMetrics was closed: it observes no more interceptors");
    }
    if (!interceptors.contains(interceptor)) {
      interceptors.add(interceptor);
    }
  }

  void close() {
    if (closed.compareAndSet(false, true)) {
      tokens.close();
      state.close();
      interceptors.clear();
    }
  }

  private void recordTokens(ObservableDoubleMeasurement measurement) {
    List<RetryBudget> seen = new ArrayList<>();
    for (String target : targets) {
      double fewest = Double.NaN;
      seen.clear();
      for (RetryInterceptor interceptor : interceptors) {
        RetryBudget budget = interceptor.retryBudget(target);
        if (budget == null || containsSame(seen, budget)) {
          continue;
        }
        seen.add(budget);
        double available = budget.stats().availableTokens();
        if (!Double.isNaN(available) && (Double.isNaN(fewest) || available < fewest)) {
          fewest = available;
        }
      }
      if (!Double.isNaN(fewest)) {
        measurement.record(fewest, Attributes.of(Labels.TARGET, target));
      }
    }
  }

  private void recordStates(ObservableLongMeasurement measurement) {
    for (String target : targets) {
      CircuitBreaker.@Nullable State worst = null;
      for (RetryInterceptor interceptor : interceptors) {
        CircuitBreaker breaker = interceptor.circuitBreaker(target);
        if (breaker == null) {
          continue;
        }
        CircuitBreaker.State now = breaker.state();
        if (worst == null || severity(now) > severity(worst)) {
          worst = now;
        }
      }
      if (worst != null) {
        measurement.record(code(worst), Attributes.of(Labels.TARGET, target));
      }
    }
  }

  private static boolean containsSame(List<RetryBudget> budgets, RetryBudget budget) {
    for (RetryBudget b : budgets) {
      if (b == budget) {
        return true;
      }
    }
    return false;
  }

  /** The gauge's value of a state; documented in the README's metric table. */
  static long code(CircuitBreaker.State state) {
    switch (state) {
      case CLOSED:
        return 0;
      case HALF_OPEN:
        return 1;
      case OPEN:
        return 2;
      case THROTTLING:
        return 3;
      default:
        throw new AssertionError("a CircuitBreaker.State without a code: " + state);
    }
  }

  /** How much of the traffic a state refuses, to pick the worst of several breakers. */
  private static int severity(CircuitBreaker.State state) {
    switch (state) {
      case CLOSED:
        return 0;
      case THROTTLING:
        return 1;
      case HALF_OPEN:
        return 2;
      case OPEN:
        return 3;
      default:
        throw new AssertionError("a CircuitBreaker.State without a severity: " + state);
    }
  }

  @Override
  public String toString() {
    return "targets=" + targets.size() + ", interceptors=" + interceptors.size();
  }
}
