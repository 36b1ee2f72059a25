package io.github.grpcretry.stress;

import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The application's listener. It records every callback in the call's record and checks
 * invariant 1 as callbacks arrive: exactly one {@code onClose}, nothing after it, and never two
 * callbacks at once (an atomic flag held for the duration of each callback). When the plan says
 * so, its {@code onMessage} throws, as buggy application code does.
 *
 * <p>It never calls into the {@code ClientCall} itself: what the application does in reaction
 * (ask for the next message, send more when ready) is handed to the {@link CallDriver}, which does
 * it from other threads.
 */
final class AppListener extends ClientCall.Listener<Object> {
  private final EventClock clock;
  private final CallRecord record;
  private final CallDriver driver;
  private final Violations violations;
  private final Figures figures;
  private final AtomicBoolean inCallback = new AtomicBoolean();
  private volatile boolean closed;

  AppListener(
      EventClock clock, CallRecord record, CallDriver driver, Violations violations, Figures figures) {
    this.clock = clock;
    this.record = record;
    this.driver = driver;
    this.violations = violations;
    this.figures = figures;
  }

  /** Returns whether this callback owns the in-callback flag (false if another one holds it). */
  private boolean enter(String callback) {
    boolean owned = inCallback.compareAndSet(false, true);
    if (!owned) {
      violations.report(
          Invariant.CONCURRENT_CALLBACKS,
          record,
          callback + " ran while another callback of the same call was running");
    }
    if (closed) {
      violations.report(
          Invariant.CALLBACK_AFTER_CLOSE, record, callback + " arrived after onClose");
    }
    return owned;
  }

  private void exit(boolean owned) {
    if (owned) {
      inCallback.set(false);
    }
  }

  @Override
  public void onHeaders(Metadata headers) {
    boolean owned = enter("onHeaders");
    try {
      record.appHeaders(clock.next(), StressHeaders.taggedAttempt(headers, record.plan.callId()));
    } finally {
      exit(owned);
    }
  }

  @Override
  public void onMessage(Object message) {
    boolean owned = enter("onMessage");
    try {
      long seq = clock.next();
      int n = record.appMessage(seq, message);
      driver.messageArrived();
      if (n == record.plan.actions().listenerThrowsAtMessage()) {
        record.listenerThrew(clock.next());
        figures.count("user code", "onMessage threw");
        throw new IllegalStateException("stress: scripted failure in the application's onMessage");
      }
    } finally {
      exit(owned);
    }
  }

  @Override
  public void onReady() {
    boolean owned = enter("onReady");
    try {
      record.appReady(clock.next());
      driver.readyArrived();
    } finally {
      exit(owned);
    }
  }

  @Override
  public void onClose(Status status, Metadata trailers) {
    boolean owned = enter("onClose");
    int closes;
    try {
      closes =
          record.appClose(
              clock.next(), status, StressHeaders.taggedAttempt(trailers, record.plan.callId()));
      closed = true;
      if (closes > 1) {
        violations.report(
            Invariant.ONE_CLOSE, record, "onClose delivered " + closes + " times: " + CallRecord.brief(status));
      }
    } finally {
      exit(owned);
    }
    if (closes == 1) {
      driver.closed();
    }
  }
}
