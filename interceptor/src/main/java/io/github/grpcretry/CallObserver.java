package io.github.grpcretry;

import io.grpc.Deadline;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * What one call tells its {@link RetryListener}: the call's transitions record events under the
 * call's lock, in order, and {@link #flush} hands them to the listener outside it, one thread at
 * a time, so that the listener hears a call's events in the order they happened. Exists only for
 * interceptors with a listener.
 *
 * <p>Guarded by the call's lock, but for {@link #flush}, which takes it itself.
 */
final class CallObserver {
  private final RetryListener listener;
  private final String method;
  private final String target;
  private final Deadline.Ticker ticker;
  private final long startNanos;
  private long[] attemptStarts = new long[4];
  private int hedges;
  /** Since when no attempt has been in flight, or -1 while one is. */
  private long idleSince = -1;
  private long retryDelayNanos;
  private long lastEndedNanos;
  private final ArrayDeque<Object> pending = new ArrayDeque<>(8);
  private boolean flushing;

  CallObserver(RetryListener listener, String method, String target, Deadline.Ticker ticker) {
    this.listener = listener;
    this.method = method;
    this.target = target;
    this.ticker = ticker;
    this.startNanos = ticker.nanoTime();
  }

  void attemptStarted(
      int number, RetryListener.AttemptKind kind, long delayNanos, RetryListener.DelaySource source) {
    long now = ticker.nanoTime();
    if (number >= attemptStarts.length) {
      attemptStarts = Arrays.copyOf(attemptStarts, Math.max(number + 1, attemptStarts.length * 2));
    }
    attemptStarts[number] = now;
    if (kind == RetryListener.AttemptKind.HEDGE) {
      hedges++;
    }
    if (idleSince >= 0) {
      retryDelayNanos += now - idleSince;
      idleSince = -1;
    }
    pending.add(
        new RetryListener.AttemptStarted(
            method, target, number, kind, Duration.ofNanos(delayNanos), source));
  }

  void attemptEnded(int number, Status status, @Nullable String abandonedBecause) {
    long started = number < attemptStarts.length ? attemptStarts[number] : startNanos;
    long now = ticker.nanoTime();
    lastEndedNanos = now;
    pending.add(
        new RetryListener.AttemptEnded(
            method,
            target,
            number,
            status,
            Duration.ofNanos(now - started),
            abandonedBecause));
  }

  /** The ticker's time now. */
  long now() {
    return ticker.nanoTime();
  }

  /**
   * No attempt is in flight while the call waits for another, whose timer was armed at {@code
   * armedNanos}: idle since then, or since the last attempt ended if that came later (a hedge's
   * timer armed while an attempt was still running).
   */
  void idleSince(long armedNanos) {
    if (idleSince < 0) {
      idleSince = Math.max(armedNanos, lastEndedNanos);
    }
  }

  void committed(int number) {
    pending.add(new RetryListener.CallCommitted(method, target, number));
  }

  void refused(int afterAttempt, RetryListener.Refusal reason, String description) {
    pending.add(new RetryListener.RetryRefused(method, target, afterAttempt, reason, description));
  }

  void closed(Status status, int attempts) {
    pending.add(
        new RetryListener.CallClosed(
            method,
            target,
            status,
            attempts,
            hedges,
            Duration.ofNanos(retryDelayNanos),
            Duration.ofNanos(ticker.nanoTime() - startNanos)));
  }

  boolean hasPending() {
    return !pending.isEmpty();
  }

  /**
   * Hands the recorded events to the listener, outside the call's lock ({@code lock}); a thread
   * that finds another handing them over leaves its events to it.
   */
  void flush(Object lock) {
    synchronized (lock) {
      if (flushing) {
        return;
      }
      flushing = true;
    }
    while (true) {
      Object event;
      synchronized (lock) {
        event = pending.poll();
        if (event == null) {
          flushing = false;
          return;
        }
      }
      deliver(event);
    }
  }

  private void deliver(Object event) {
    if (event instanceof RetryListener.AttemptStarted e) {
      listener.onAttemptStarted(e);
    } else if (event instanceof RetryListener.AttemptEnded e) {
      listener.onAttemptEnded(e);
    } else if (event instanceof RetryListener.CallCommitted e) {
      listener.onCallCommitted(e);
    } else if (event instanceof RetryListener.RetryRefused e) {
      listener.onRetryRefused(e);
    } else if (event instanceof RetryListener.CallClosed e) {
      listener.onCallClosed(e);
    }
  }
}
