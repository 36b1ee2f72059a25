package io.github.grpcretry;

import io.grpc.Deadline;
import io.grpc.Status;
import java.time.Duration;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.DoubleSupplier;

/**
 * Client-side adaptive throttling (Google SRE book, "Handling Overload"): over a sliding window,
 * the client counts {@code requests}, the attempts it asked to send, and {@code accepts}, those the
 * target answered; each new attempt is refused locally with probability {@code max(0, (requests -
 * K * accepts) / (requests + 1))}. A healthy target answers nearly everything and nothing is
 * refused; one that fails everything sees only a trickle of attempts, which is how the client
 * notices that it is back. It needs no thresholds.
 *
 * <p>What counts as not accepted is {@link #isFailure}: by default the overload signals; the
 * application's own answers count as accepted.
 *
 * <p>Thread-safe. A permission reads one volatile probability and adds to one counter, without a
 * clock or a lock; while refusing it also draws one random number. The probability is worked out
 * again from the window whenever a result is recorded ({@link #onSuccess}, {@link #onFailure},
 * {@link #onIgnored}): attempts asked for since the last result join the count at the next one.
 * So a target that starts failing is throttled from its first failures on, and the permission
 * path never sums the counters that other threads are adding to. The window moves on in buckets,
 * as results come in, under a lock taken once per bucket.
 */
public final class AdaptiveThrottling implements CircuitBreaker {
  private final String target;
  private final Deadline.Ticker ticker;
  private final DoubleSupplier random;
  private final double k;
  private final long bucketNanos;
  private final int buckets;
  private final Set<Status.Code> failureCodes;
  /**
   * The counts of the bucket now filling, kept in adders so that two threads counting at once do
   * not contend on one word; the finished buckets of the window are summed in {@code prior*}.
   */
  private final LongAdder currentRequests = new LongAdder();
  private final LongAdder currentAccepts = new LongAdder();
  private volatile long priorRequests;
  private volatile long priorAccepts;
  /** The number of the bucket now filling (time / bucketNanos). */
  private volatile long epoch;
  /** The refusal probability as of the last result; what a permission reads. */
  private volatile double probability;
  // Guarded by this: the finished buckets, by epoch % buckets.
  private final long[] bucketRequests;
  private final long[] bucketAccepts;

  private AdaptiveThrottling(Builder b, String target, Deadline.Ticker ticker, DoubleSupplier random) {
    this.target = target;
    this.ticker = ticker;
    this.random = random;
    this.k = b.k;
    this.buckets = b.buckets;
    this.bucketNanos = Math.max(1, b.window.toNanos() / b.buckets);
    this.failureCodes = EnumSet.copyOf(b.failureCodes);
    this.bucketRequests = new long[buckets];
    this.bucketAccepts = new long[buckets];
    this.epoch = Math.floorDiv(ticker.nanoTime(), bucketNanos);
  }

  /** Returns a builder with the defaults: a window of 2 minutes in 12 buckets, K = 2. */
  public static Builder newBuilder() {
    return new Builder();
  }

  /**
   * The probability with which the next attempt is refused: {@code max(0, (requests - K *
   * accepts) / (requests + 1))} over the window.
   */
  public double rejectionProbability() {
    advance();
    return refresh();
  }

  /** Works the probability out again from the window (as it is now) and publishes it. */
  private double refresh() {
    double p = probability();
    probability = p;
    return p;
  }

  private double probability() {
    long requested = priorRequests + currentRequests.sum();
    long accepted = priorAccepts + currentAccepts.sum();
    return Math.max(0, (requested - k * accepted) / (requested + 1));
  }

  /**
   * Reads no clock and sums no counter: it uses the probability as of the last result (the window
   * moves on when results come in, which for a target called at all is often enough; while
   * everything is refused, the trickle let through brings the next results).
   */
  @Override
  public boolean tryAcquirePermission() {
    double p = probability;
    currentRequests.increment();
    if (p <= 0) {
      return true;
    }
    double draw = random.getAsDouble();
    if (!(draw >= 0 && draw < 1)) {
      draw = ThreadLocalRandom.current().nextDouble();
    }
    return draw >= p;
  }

  @Override
  public void onSuccess() {
    advance();
    currentAccepts.increment();
    refresh();
  }

  @Override
  public void onFailure() {
    advance();
    refresh();
  }

  @Override
  public void onIgnored() {
    // An attempt that told nothing about the target was not really requested of it.
    advance();
    currentRequests.decrement();
    refresh();
  }

  @Override
  public boolean isFailure(Status status) {
    return failureCodes.contains(status.getCode());
  }

  /**
   * Moves the window on to now: the bucket that was filling is finished and kept, the buckets
   * that fell out of the window are emptied, and the bucket that fills now starts at zero.
   */
  private void advance() {
    long now = Math.floorDiv(ticker.nanoTime(), bucketNanos);
    if (now == epoch) {
      return;
    }
    synchronized (this) {
      long from = epoch;
      if (now <= from) {
        return;
      }
      long finishedRequests = currentRequests.sumThenReset();
      long finishedAccepts = currentAccepts.sumThenReset();
      if (now - from >= buckets) {
        // Everything before now is out of the window.
        Arrays.fill(bucketRequests, 0);
        Arrays.fill(bucketAccepts, 0);
      } else {
        int finished = (int) Math.floorMod(from, (long) buckets);
        bucketRequests[finished] = finishedRequests;
        bucketAccepts[finished] = finishedAccepts;
        // Buckets from + 1 .. now saw nothing; their slots held buckets now out of the window.
        for (long e = from + 1; e <= now; e++) {
          int i = (int) Math.floorMod(e, (long) buckets);
          bucketRequests[i] = 0;
          bucketAccepts[i] = 0;
        }
      }
      long requested = 0;
      long accepted = 0;
      for (int i = 0; i < buckets; i++) {
        requested += bucketRequests[i];
        accepted += bucketAccepts[i];
      }
      priorRequests = requested;
      priorAccepts = accepted;
      epoch = now;
    }
  }

  @Override
  public String describeRejection() {
    long requested = priorRequests + currentRequests.sum();
    long accepted = priorAccepts + currentAccepts.sum();
    return String.format(
        Locale.ROOT,
        "rejected locally by adaptive throttling for %s, p = %.2f (%d attempts asked, %d answered"
            + " in the last %s, K = %s)",
        target,
        Math.max(0, (requested - k * accepted) / (requested + 1)),
        requested,
        accepted,
        Duration.ofNanos(bucketNanos * buckets),
        k);
  }

  @Override
  public State state() {
    return rejectionProbability() > 0 ? State.THROTTLING : State.CLOSED;
  }

  @Override
  public String toString() {
    return "AdaptiveThrottling{" + target + ", p=" + rejectionProbability() + '}';
  }

  /**
   * Builds {@link AdaptiveThrottling}, one shared ({@link #build()}) or one per target ({@link
   * #factory()}). Each setter checks its argument at once; the builder stays usable.
   *
   * <p>Not thread-safe.
   */
  public static final class Builder {
    private double k = 2;
    private Duration window = Duration.ofMinutes(2);
    private int buckets = 12;
    private EnumSet<Status.Code> failureCodes =
        EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.RESOURCE_EXHAUSTED, Status.Code.DEADLINE_EXCEEDED);
    private String name = "the target";
    private Deadline.Ticker ticker = Deadline.getSystemTicker();
    private DoubleSupplier random = () -> ThreadLocalRandom.current().nextDouble();

    private Builder() {}

    /**
     * Sets K, how many requests per accept the target may be sent before any is refused; 2 by
     * default (the SRE book's choice; 1.1 is aggressive).
     *
     * @throws IllegalArgumentException unless it is a finite number >= 1
     */
    public Builder k(double k) {
      if (!(k >= 1) || Double.isInfinite(k)) {
        throw new IllegalArgumentException("k must be a finite number >= 1: " + k);
      }
      this.k = k;
      return this;
    }

    /**
     * Sets how far back requests and accepts count; 2 minutes by default.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder window(Duration window) {
      Checks.positiveNanos("window", window);
      this.window = window;
      return this;
    }

    /**
     * Sets into how many buckets the window is cut, so that it moves on in steps; 12 by default.
     *
     * @throws IllegalArgumentException unless it is from 1 to 1,000
     */
    public Builder buckets(int buckets) {
      if (buckets < 1 || buckets > 1_000) {
        throw new IllegalArgumentException("buckets must be from 1 to 1,000: " + buckets);
      }
      this.buckets = buckets;
      return this;
    }

    /**
     * Sets the status codes that count as not accepted, replacing the default UNAVAILABLE,
     * RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED.
     *
     * @throws IllegalArgumentException if none is given or OK is among them
     */
    public Builder failureCodes(Status.Code... codes) {
      this.failureCodes = Checks.failureCodes(codes);
      return this;
    }

    /** Sets the target's name in messages, for a throttle made by {@link #build()}. */
    public Builder name(String name) {
      this.name = Objects.requireNonNull(name, "name");
      return this;
    }

    /** Sets the time source of a throttle made by {@link #build()}; the system ticker by default. */
    public Builder ticker(Deadline.Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /** Sets the source of the draws of a throttle made by {@link #build()}. */
    public Builder random(DoubleSupplier random) {
      this.random = Objects.requireNonNull(random, "random");
      return this;
    }

    /** Returns one throttle, to share ({@link RetryInterceptor.Builder#circuitBreaker}). */
    public AdaptiveThrottling build() {
      return new AdaptiveThrottling(copy(), name, ticker, random);
    }

    /**
     * Returns a factory of throttles, one per target ({@link
     * RetryInterceptor.Builder#circuitBreakers}); it uses the interceptor's ticker and random.
     */
    public CircuitBreaker.Factory factory() {
      Builder frozen = copy();
      return (target, ticker, random) -> new AdaptiveThrottling(frozen, target, ticker, random);
    }

    private Builder copy() {
      Builder b = new Builder();
      b.k = k;
      b.window = window;
      b.buckets = buckets;
      b.failureCodes = EnumSet.copyOf(failureCodes);
      b.name = name;
      b.ticker = ticker;
      b.random = random;
      return b;
    }
  }
}
