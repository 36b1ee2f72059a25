package io.github.grpcretry;

import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.ArrayDeque;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The application's listener, called one callback at a time and never after {@code onClose}.
 *
 * <p>Callbacks reach the application from several threads: the current attempt's callback
 * executor, the thread that finished replaying an attempt, a timer or a canceller. A callback that
 * arrives while another runs is queued and run by the thread already inside, right after it; an
 * uncontended callback runs at once on its own thread without allocating.
 *
 * <p>Thread-safe.
 */
final class SerializedListener<RespT> {
  private static final Logger logger = Logger.getLogger(SerializedListener.class.getName());

  private final ClientCall.Listener<RespT> delegate;
  private final Object lock = new Object();
  // Guarded by lock.
  private boolean running;
  private boolean closed;
  private @Nullable ArrayDeque<Runnable> queue;

  SerializedListener(ClientCall.Listener<RespT> delegate) {
    this.delegate = delegate;
  }

  void onHeaders(Metadata headers) {
    synchronized (lock) {
      if (closed) {
        return;
      }
      if (running) {
        enqueue(() -> delegate.onHeaders(headers));
        return;
      }
      running = true;
    }
    try {
      delegate.onHeaders(headers);
    } finally {
      drainQueue();
    }
  }

  void onMessage(RespT message) {
    synchronized (lock) {
      if (closed) {
        return;
      }
      if (running) {
        enqueue(() -> delegate.onMessage(message));
        return;
      }
      running = true;
    }
    try {
      delegate.onMessage(message);
    } finally {
      drainQueue();
    }
  }

  void onReady() {
    synchronized (lock) {
      if (closed) {
        return;
      }
      if (running) {
        enqueue(delegate::onReady);
        return;
      }
      running = true;
    }
    try {
      delegate.onReady();
    } finally {
      drainQueue();
    }
  }

  /** Delivers the call's one close; later callbacks of any kind are dropped. */
  void onClose(Status status, Metadata trailers) {
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      if (running) {
        enqueue(() -> delegate.onClose(status, trailers));
        return;
      }
      running = true;
    }
    try {
      delegate.onClose(status, trailers);
    } finally {
      drainQueue();
    }
  }

  private void enqueue(Runnable callback) {
    if (queue == null) {
      queue = new ArrayDeque<>(4);
    }
    queue.add(callback);
  }

  private void drainQueue() {
    while (true) {
      Runnable next;
      synchronized (lock) {
        next = queue == null ? null : queue.poll();
        if (next == null) {
          running = false;
          return;
        }
      }
      try {
        next.run();
      } catch (RuntimeException | Error e) {
        // The callback that failed belongs to the application and was queued by another thread:
        // there is no caller to throw to.
        logger.log(Level.WARNING, "Exception thrown by a ClientCall.Listener callback", e);
      }
    }
  }
}
