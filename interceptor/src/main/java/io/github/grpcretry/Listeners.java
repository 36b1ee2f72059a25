package io.github.grpcretry;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The listeners of one interceptor, as one: each event goes to each listener in order, and a
 * listener that throws is logged the first time and otherwise ignored, so that no listener ever
 * changes a call.
 *
 * <p>Thread-safe.
 */
final class Listeners implements RetryListener {
  private static final Logger logger = Logger.getLogger(RetryInterceptor.class.getName());

  private final RetryListener[] listeners;
  private final AtomicBoolean[] complained;

  private Listeners(List<RetryListener> listeners) {
    this.listeners = listeners.toArray(new RetryListener[0]);
    this.complained = new AtomicBoolean[this.listeners.length];
    for (int i = 0; i < complained.length; i++) {
      complained[i] = new AtomicBoolean();
    }
  }

  static RetryListener combine(List<RetryListener> listeners) {
    for (RetryListener listener : listeners) {
      if (listener == null) {
        throw new NullPointerException("a RetryListener is null");
      }
    }
    return new Listeners(List.copyOf(listeners));
  }

  private void each(Consumer<RetryListener> event) {
    for (int i = 0; i < listeners.length; i++) {
      try {
        event.accept(listeners[i]);
      } catch (RuntimeException | Error e) {
        if (complained[i].compareAndSet(false, true)) {
          logger.log(
              Level.WARNING,
              "the RetryListener " + listeners[i] + " threw; it is ignored, and not reported again",
              e);
        }
      }
    }
  }

  @Override
  public void onAttemptStarted(AttemptStarted event) {
    each(l -> l.onAttemptStarted(event));
  }

  @Override
  public void onAttemptEnded(AttemptEnded event) {
    each(l -> l.onAttemptEnded(event));
  }

  @Override
  public void onCallCommitted(CallCommitted event) {
    each(l -> l.onCallCommitted(event));
  }

  @Override
  public void onRetryRefused(RetryRefused event) {
    each(l -> l.onRetryRefused(event));
  }

  @Override
  public void onCallClosed(CallClosed event) {
    each(l -> l.onCallClosed(event));
  }

  @Override
  public void onBreakerStateChanged(BreakerStateChanged event) {
    each(l -> l.onBreakerStateChanged(event));
  }

  @Override
  public void onBudgetExhausted(BudgetChanged event) {
    each(l -> l.onBudgetExhausted(event));
  }

  @Override
  public void onBudgetRecovered(BudgetChanged event) {
    each(l -> l.onBudgetRecovered(event));
  }

  @Override
  public String toString() {
    return "RetryListener.combine(" + List.of(listeners) + ")";
  }
}
