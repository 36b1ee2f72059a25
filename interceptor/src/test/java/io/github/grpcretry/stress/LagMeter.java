package io.github.grpcretry.stress;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * How far behind the machine is running: the worst scheduling lag seen in each 50 ms slice of the
 * last ~25 s, so that the watchdog can ask "what was the worst lag since this call's deadline?".
 * Lags come from the watchdog's own wake-ups and from its probes (see {@link Watchdog}).
 *
 * <p>Thread-safe.
 */
final class LagMeter {
  private static final long SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
  private static final int SLICES = 512;

  private final long origin = System.nanoTime();
  private final long[] sliceId = new long[SLICES];
  private final long[] sliceMax = new long[SLICES];
  private long worst;

  LagMeter() {
    Arrays.fill(sliceId, -1);
  }

  synchronized void record(long now, long lag) {
    long id = (now - origin) / SLICE_NANOS;
    int i = (int) (id % SLICES);
    if (sliceId[i] != id) {
      sliceId[i] = id;
      sliceMax[i] = 0;
    }
    sliceMax[i] = Math.max(sliceMax[i], lag);
    worst = Math.max(worst, lag);
  }

  /** The worst lag recorded from {@code since} to {@code now}. */
  synchronized long worstSince(long since, long now) {
    long from = Math.max(0, (since - origin) / SLICE_NANOS);
    long to = (now - origin) / SLICE_NANOS;
    from = Math.max(from, to - SLICES + 1);
    long max = 0;
    for (long id = from; id <= to; id++) {
      int i = (int) (id % SLICES);
      if (sliceId[i] == id) {
        max = Math.max(max, sliceMax[i]);
      }
    }
    return max;
  }

  synchronized long worst() {
    return worst;
  }
}
