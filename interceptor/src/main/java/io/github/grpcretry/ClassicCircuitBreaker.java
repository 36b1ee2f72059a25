package io.github.grpcretry;

import io.grpc.Deadline;
import io.grpc.Status;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.DoubleSupplier;
import org.jspecify.annotations.Nullable;

/**
 * The classic circuit breaker: closed while the share of failed attempts over a sliding window
 * stays below a threshold; open for a while (with jitter, so that a fleet does not probe in
 * lockstep) once it passes it; then half-open, letting a few probes through, which close it when
 * they all succeed and open it again when one fails.
 *
 * <p>Which results count as failures is {@link #isFailure}: by default the overload signals
 * ({@code UNAVAILABLE}, {@code RESOURCE_EXHAUSTED}, {@code DEADLINE_EXCEEDED}), never the
 * application's own answers.
 *
 * <p>Thread-safe and lock-free. In the closed state a permission is one volatile read.
 */
public final class ClassicCircuitBreaker implements CircuitBreaker {
  private static final int EMPTY = 0;
  private static final int SUCCESS = 1;
  private static final int FAILURE = 2;

  private final String target;
  private final Deadline.Ticker ticker;
  private final DoubleSupplier random;
  private final double threshold;
  private final int minimumCalls;
  private final long openNanos;
  private final double openJitter;
  private final int probes;
  private final Set<Status.Code> failureCodes;
  private final Window window;
  private final AtomicReference<Phase> phase;

  /** One state and what it needs; replaced whole on every transition. */
  private static final class Phase {
    final State state;
    /** OPEN: when probing may start; else unused. */
    final long openUntilNanos;
    /** OPEN: why it opened. */
    final String why;
    /** HALF_OPEN: probes left to hand out, and successes so far. */
    final AtomicInteger probesLeft;
    final AtomicInteger probeSuccesses = new AtomicInteger();

    Phase(State state, long openUntilNanos, String why, int probes) {
      this.state = state;
      this.openUntilNanos = openUntilNanos;
      this.why = why;
      this.probesLeft = new AtomicInteger(probes);
    }
  }

  private ClassicCircuitBreaker(Builder b, String target, Deadline.Ticker ticker, DoubleSupplier random) {
    this.target = target;
    this.ticker = ticker;
    this.random = random;
    this.threshold = b.threshold;
    this.minimumCalls = b.minimumCalls;
    this.openNanos = b.openDuration.toNanos();
    this.openJitter = b.openJitter;
    this.probes = b.probes;
    this.failureCodes = EnumSet.copyOf(b.failureCodes);
    this.window = b.windowTime != null ? new TimeWindow(b.windowTime.toNanos(), ticker) : new CountWindow(b.windowCalls);
    this.phase = new AtomicReference<>(new Phase(State.CLOSED, 0, "", 0));
  }

  /** Returns a builder with the defaults described on its setters. */
  public static Builder newBuilder() {
    return new Builder();
  }

  @Override
  public boolean tryAcquirePermission() {
    Phase now = phase.get();
    switch (now.state) {
      case CLOSED:
        return true;
      case OPEN:
        if (ticker.nanoTime() - now.openUntilNanos < 0) {
          return false;
        }
        Phase probing = new Phase(State.HALF_OPEN, 0, now.why, probes);
        phase.compareAndSet(now, probing);
        return tryAcquirePermission();
      default:
        while (true) {
          int left = now.probesLeft.get();
          if (left <= 0) {
            return false;
          }
          if (now.probesLeft.compareAndSet(left, left - 1)) {
            return true;
          }
        }
    }
  }

  @Override
  public void onSuccess() {
    Phase now = phase.get();
    if (now.state == State.CLOSED) {
      window.record(SUCCESS);
    } else if (now.state == State.HALF_OPEN && now.probeSuccesses.incrementAndGet() >= probes) {
      if (phase.compareAndSet(now, new Phase(State.CLOSED, 0, "", 0))) {
        window.clear();
      }
    }
  }

  @Override
  public void onFailure() {
    Phase now = phase.get();
    if (now.state == State.CLOSED) {
      window.record(FAILURE);
      int total = window.total();
      int failures = window.failures();
      if (total >= minimumCalls && failures >= threshold * total) {
        open(now, failures + " of the last " + total + " attempts failed");
      }
    } else if (now.state == State.HALF_OPEN) {
      int failed = probes - now.probesLeft.get() - now.probeSuccesses.get();
      open(now, Math.max(1, failed) + " of " + probes + " probes failed");
    }
  }

  @Override
  public void onIgnored() {
    Phase now = phase.get();
    if (now.state == State.HALF_OPEN) {
      now.probesLeft.incrementAndGet(); // The probe told nothing: another may go instead.
    }
  }

  @Override
  public boolean isFailure(Status status) {
    return failureCodes.contains(status.getCode());
  }

  private void open(Phase from, String why) {
    double jitter = openJitter == 0 ? 1 : 1 - openJitter + 2 * openJitter * draw();
    long until = ticker.nanoTime() + (long) (openNanos * jitter);
    phase.compareAndSet(from, new Phase(State.OPEN, until, why, 0));
  }

  private double draw() {
    double value = random.getAsDouble();
    return value >= 0 && value < 1 ? value : ThreadLocalRandom.current().nextDouble();
  }

  @Override
  public String describeRejection() {
    Phase now = phase.get();
    switch (now.state) {
      case OPEN:
        long left = Math.max(0, now.openUntilNanos - ticker.nanoTime());
        return String.format(
            Locale.ROOT,
            "circuit open for %s for another %.3f s: %s",
            target,
            left / 1e9,
            now.why);
      case HALF_OPEN:
        return "circuit half-open for "
            + target
            + ": its "
            + probes
            + (probes == 1 ? " probe is" : " probes are")
            + " in flight (it opened because "
            + now.why
            + ")";
      default:
        return "circuit closed for " + target;
    }
  }

  @Override
  public State state() {
    Phase now = phase.get();
    if (now.state == State.OPEN && ticker.nanoTime() - now.openUntilNanos >= 0) {
      return State.HALF_OPEN; // Probing starts with the next attempt.
    }
    return now.state;
  }

  /** Opens the breaker now, as a failure-rate breach would; for tests and operators. */
  public void forceOpen(String why) {
    Objects.requireNonNull(why, "why");
    phase.set(new Phase(State.OPEN, ticker.nanoTime() + openNanos, why, 0));
  }

  /** Closes the breaker and forgets its window; for tests and operators. */
  public void reset() {
    phase.set(new Phase(State.CLOSED, 0, "", 0));
    window.clear();
  }

  @Override
  public String toString() {
    return "ClassicCircuitBreaker{" + target + ", " + state() + ", " + window + '}';
  }

  /** The results of the recent attempts. */
  private interface Window {
    void record(int result);

    int total();

    int failures();

    void clear();
  }

  /** The last {@code size} results. */
  private static final class CountWindow implements Window {
    private final AtomicIntegerArray results;
    private final AtomicLong next = new AtomicLong();
    private final AtomicInteger failures = new AtomicInteger();

    CountWindow(int size) {
      this.results = new AtomicIntegerArray(size);
    }

    @Override
    public void record(int result) {
      int slot = (int) (next.getAndIncrement() % results.length());
      int old = results.getAndSet(slot, result);
      int change = (result == FAILURE ? 1 : 0) - (old == FAILURE ? 1 : 0);
      if (change != 0) {
        failures.addAndGet(change);
      }
    }

    @Override
    public int total() {
      return (int) Math.min(next.get(), results.length());
    }

    @Override
    public int failures() {
      return failures.get();
    }

    @Override
    public void clear() {
      for (int i = 0; i < results.length(); i++) {
        if (results.getAndSet(i, EMPTY) == FAILURE) {
          failures.decrementAndGet();
        }
      }
      next.set(0);
    }

    @Override
    public String toString() {
      return failures() + " of the last " + total() + " attempts failed";
    }
  }

  /** The results of the last {@code windowNanos}, in ten buckets. */
  private static final class TimeWindow implements Window {
    private static final int BUCKETS = 10;
    private final long bucketNanos;
    private final Deadline.Ticker ticker;
    /** Per bucket: the bucket's number (time / bucketNanos), its results and its failures. */
    private final AtomicLongArray epochs = new AtomicLongArray(BUCKETS);
    private final AtomicLongArray totals = new AtomicLongArray(BUCKETS);
    private final AtomicLongArray failed = new AtomicLongArray(BUCKETS);

    TimeWindow(long windowNanos, Deadline.Ticker ticker) {
      this.bucketNanos = Math.max(1, windowNanos / BUCKETS);
      this.ticker = ticker;
      for (int i = 0; i < BUCKETS; i++) {
        epochs.set(i, Long.MIN_VALUE);
      }
    }

    @Override
    public void record(int result) {
      long epoch = Math.floorDiv(ticker.nanoTime(), bucketNanos);
      int i = (int) Math.floorMod(epoch, (long) BUCKETS);
      long seen = epochs.get(i);
      if (seen != epoch && epochs.compareAndSet(i, seen, epoch)) {
        totals.set(i, 0);
        failed.set(i, 0);
      }
      totals.incrementAndGet(i);
      if (result == FAILURE) {
        failed.incrementAndGet(i);
      }
    }

    private long sum(AtomicLongArray counts) {
      long epoch = Math.floorDiv(ticker.nanoTime(), bucketNanos);
      long sum = 0;
      for (int i = 0; i < BUCKETS; i++) {
        if (epoch - epochs.get(i) < BUCKETS) {
          sum += counts.get(i);
        }
      }
      return sum;
    }

    @Override
    public int total() {
      return (int) Math.min(Integer.MAX_VALUE, sum(totals));
    }

    @Override
    public int failures() {
      return (int) Math.min(Integer.MAX_VALUE, sum(failed));
    }

    @Override
    public void clear() {
      for (int i = 0; i < BUCKETS; i++) {
        epochs.set(i, Long.MIN_VALUE);
        totals.set(i, 0);
        failed.set(i, 0);
      }
    }

    @Override
    public String toString() {
      return failures() + " of " + total() + " attempts failed in the window";
    }
  }

  /**
   * Builds {@link ClassicCircuitBreaker}s, one shared ({@link #build()}) or one per target
   * ({@link #factory()}). Each setter checks its argument at once; the builder stays usable.
   *
   * <p>Not thread-safe.
   */
  public static final class Builder {
    private double threshold = 0.5;
    private int windowCalls = 50;
    private @Nullable Duration windowTime;
    private int minimumCalls = 20;
    private Duration openDuration = Duration.ofSeconds(5);
    private double openJitter = 0.2;
    private int probes = 3;
    private EnumSet<Status.Code> failureCodes =
        EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.RESOURCE_EXHAUSTED, Status.Code.DEADLINE_EXCEEDED);
    private String name = "the target";
    private Deadline.Ticker ticker = Deadline.getSystemTicker();
    private DoubleSupplier random = () -> ThreadLocalRandom.current().nextDouble();

    private Builder() {}

    /**
     * Sets the share of failed attempts in the window at which the breaker opens; 0.5 by default.
     *
     * @throws IllegalArgumentException unless it is in (0, 1]
     */
    public Builder failureRateThreshold(double threshold) {
      if (!(threshold > 0 && threshold <= 1)) {
        throw new IllegalArgumentException("failureRateThreshold must be in (0, 1]: " + threshold);
      }
      this.threshold = threshold;
      return this;
    }

    /**
     * Makes the window the last {@code calls} attempts (50 by default); replaces a window by time.
     *
     * @throws IllegalArgumentException if {@code calls < 1}
     */
    public Builder slidingWindowCalls(int calls) {
      if (calls < 1) {
        throw new IllegalArgumentException("slidingWindowCalls must be >= 1: " + calls);
      }
      this.windowCalls = calls;
      this.windowTime = null;
      return this;
    }

    /**
     * Makes the window the attempts of the last {@code time}, in ten buckets; replaces a window by
     * count.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder slidingWindowTime(Duration time) {
      Checks.positiveNanos("slidingWindowTime", time);
      this.windowTime = time;
      return this;
    }

    /**
     * Sets how many attempts the window must hold before the failure rate counts; 20 by default.
     *
     * @throws IllegalArgumentException if {@code calls < 1}
     */
    public Builder minimumCalls(int calls) {
      if (calls < 1) {
        throw new IllegalArgumentException("minimumCalls must be >= 1: " + calls);
      }
      this.minimumCalls = calls;
      return this;
    }

    /**
     * Sets how long the breaker stays open before it lets probes through; 5 s by default.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder openDuration(Duration duration) {
      Checks.positiveNanos("openDuration", duration);
      this.openDuration = duration;
      return this;
    }

    /**
     * Sets how much the open time varies at random, as a share of it: 0.2 (the default) gives a
     * uniform time in [0.8, 1.2] of {@code openDuration}, so that the clients of a fleet do not
     * probe in lockstep.
     *
     * @throws IllegalArgumentException unless it is in [0, 1)
     */
    public Builder openJitter(double share) {
      if (!(share >= 0 && share < 1)) {
        throw new IllegalArgumentException("openJitter must be in [0, 1): " + share);
      }
      this.openJitter = share;
      return this;
    }

    /**
     * Sets how many probes a half-open breaker lets through; it closes when all of them
     * succeed. 3 by default.
     *
     * @throws IllegalArgumentException if {@code probes < 1}
     */
    public Builder halfOpenProbes(int probes) {
      if (probes < 1) {
        throw new IllegalArgumentException("halfOpenProbes must be >= 1: " + probes);
      }
      this.probes = probes;
      return this;
    }

    /**
     * Sets the status codes that count as failures of the target, replacing the default
     * UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED.
     *
     * @throws IllegalArgumentException if none is given or OK is among them
     */
    public Builder failureCodes(Status.Code... codes) {
      this.failureCodes = Checks.failureCodes(codes);
      return this;
    }

    /** Sets the target's name in messages, for a breaker made by {@link #build()}. */
    public Builder name(String name) {
      this.name = Objects.requireNonNull(name, "name");
      return this;
    }

    /** Sets the time source of a breaker made by {@link #build()}; the system ticker by default. */
    public Builder ticker(Deadline.Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /** Sets the source of the open-time jitter of a breaker made by {@link #build()}. */
    public Builder random(DoubleSupplier random) {
      this.random = Objects.requireNonNull(random, "random");
      return this;
    }

    /**
     * Returns one breaker, to share between interceptors ({@link
     * RetryInterceptor.Builder#circuitBreaker}).
     *
     * @throws IllegalArgumentException if a window by count is smaller than {@code minimumCalls}
     */
    public ClassicCircuitBreaker build() {
      check();
      return new ClassicCircuitBreaker(copy(), name, ticker, random);
    }

    /**
     * Returns a factory of such breakers, one per target ({@link
     * RetryInterceptor.Builder#circuitBreakers}); it uses the interceptor's ticker and random.
     *
     * @throws IllegalArgumentException if a window by count is smaller than {@code minimumCalls}
     */
    public CircuitBreaker.Factory factory() {
      check();
      Builder frozen = copy();
      return (target, ticker, random) -> new ClassicCircuitBreaker(frozen, target, ticker, random);
    }

    private void check() {
      if (windowTime == null && windowCalls < minimumCalls) {
        throw new IllegalArgumentException(
            "slidingWindowCalls must be >= minimumCalls, or the breaker never opens:"
                + " slidingWindowCalls="
                + windowCalls
                + ", minimumCalls="
                + minimumCalls);
      }
    }

    private Builder copy() {
      Builder b = new Builder();
      b.threshold = threshold;
      b.windowCalls = windowCalls;
      b.windowTime = windowTime;
      b.minimumCalls = minimumCalls;
      b.openDuration = openDuration;
      b.openJitter = openJitter;
      b.probes = probes;
      b.failureCodes = EnumSet.copyOf(failureCodes);
      b.name = name;
      b.ticker = ticker;
      b.random = random;
      return b;
    }
  }
}
