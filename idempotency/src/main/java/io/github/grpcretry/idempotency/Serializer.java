package io.github.grpcretry.idempotency;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Runs the tasks of one call one at a time, in order, on whichever thread brings one while no
 * other runs: gRPC's listener events and the store's answers meet here.
 *
 * <p>Thread-safe.
 */
final class Serializer {
  private static final Logger logger = Logger.getLogger(Serializer.class.getName());

  private final ConcurrentLinkedQueue<Runnable> queue = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean draining = new AtomicBoolean();

  /** Runs {@code task} now if nothing else runs, else after what runs and waits. */
  void run(Runnable task) {
    queue.add(task);
    // Whoever holds the drain runs everything queued; a task queued just after the holder found
    // the queue empty is picked up by the re-check below.
    while (!queue.isEmpty() && draining.compareAndSet(false, true)) {
      try {
        for (Runnable next; (next = queue.poll()) != null; ) {
          try {
            next.run();
          } catch (RuntimeException e) {
            logger.log(Level.WARNING, "a task of an idempotent call failed", e);
          }
        }
      } finally {
        draining.set(false);
      }
    }
  }
}
