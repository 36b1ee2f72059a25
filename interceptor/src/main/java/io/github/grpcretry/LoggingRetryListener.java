package io.github.grpcretry;

import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@link RetryListener#logging()}: retries, hedges and refusals at {@code FINE}; a budget running
 * dry and a breaker opening at {@code WARNING}, at most once per target and kind every 30 seconds.
 *
 * <p>Thread-safe.
 */
final class LoggingRetryListener implements RetryListener {
  private static final Logger logger = Logger.getLogger(RetryInterceptor.class.getName());
  private static final long QUIET_NANOS = 30_000_000_000L;

  /** When each (kind, target) warning was last logged, in System.nanoTime. */
  private final ConcurrentHashMap<String, Long> lastWarned = new ConcurrentHashMap<>();

  @Override
  public void onAttemptStarted(AttemptStarted e) {
    if (e.kind() != AttemptKind.FIRST && logger.isLoggable(Level.FINE)) {
      logger.fine(
          e.method()
              + " to "
              + e.target()
              + ": attempt "
              + e.attemptNumber()
              + " ("
              + e.kind()
              + ") after "
              + e.delay()
              + " ("
              + e.delaySource()
              + ")");
    }
  }

  @Override
  public void onRetryRefused(RetryRefused e) {
    if (logger.isLoggable(Level.FINE)) {
      logger.fine(
          e.method()
              + " to "
              + e.target()
              + ": not retried after attempt "
              + e.attemptNumber()
              + " ("
              + e.reason()
              + "): "
              + e.description());
    }
  }

  @Override
  public void onBudgetExhausted(BudgetChanged e) {
    warn(
        "budget " + e.target(),
        "the retry budget of "
            + e.target()
            + " is empty: retries to it are refused until successes refill it ("
            + e.stats()
            + ")");
  }

  @Override
  public void onBudgetRecovered(BudgetChanged e) {
    logger.fine(() -> "the retry budget of " + e.target() + " grants retries again (" + e.stats() + ")");
  }

  @Override
  public void onBreakerStateChanged(BreakerStateChanged e) {
    if (e.to() == CircuitBreaker.State.OPEN) {
      warn("breaker " + e.target(), "the circuit breaker of " + e.target() + " opened: " + e.description());
    } else if (logger.isLoggable(Level.FINE)) {
      logger.fine(
          "the circuit breaker of " + e.target() + " went from " + e.from() + " to " + e.to());
    }
  }

  private void warn(String key, String message) {
    long now = System.nanoTime();
    Long last = lastWarned.get(key);
    if (last != null && now - last < QUIET_NANOS) {
      return;
    }
    if (last == null ? lastWarned.putIfAbsent(key, now) == null : lastWarned.replace(key, last, now)) {
      logger.warning(message);
    }
  }

  @Override
  public String toString() {
    return "RetryListener.logging()";
  }
}
