package io.github.grpcretry;

import io.grpc.Status;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * What a method may do when an attempt fails: how many attempts, how long to wait between them,
 * which status codes are worth another attempt, and the time limits of the call and of each
 * attempt.
 *
 * <p>The names match the {@code retryPolicy} fields of the gRPC service config (gRFC A6), so that
 * {@code maxAttempts}, {@code initialBackoff}, {@code maxBackoff}, {@code backoffMultiplier} and
 * {@code retryableStatusCodes} mean here what they mean there. Unlike a service config, a policy
 * built here is not capped at five attempts.
 *
 * <p>Thread-safe: instances are immutable.
 */
public final class RetryPolicy implements CallPolicy {
  private static final Duration DEFAULT_INITIAL_BACKOFF = Duration.ofMillis(100);
  private static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(5);

  private final int maxAttempts;
  private final Duration initialBackoff;
  private final Duration maxBackoff;
  private final double backoffMultiplier;
  private final Set<Status.Code> retryableStatusCodes;
  private final Set<Status.Code> idempotentRetryableStatusCodes;
  private final Jitter jitter;
  private final @Nullable Duration perAttemptTimeout;
  private final boolean hedgeOnPerAttemptTimeout;
  private final @Nullable Duration timeout;
  private final boolean idempotencyKey;

  // Nanosecond copies, read on every failed attempt.
  final long initialBackoffNanos;
  final long maxBackoffNanos;
  final long perAttemptTimeoutNanos; // 0 when unset
  final long timeoutNanos; // 0 when unset

  private RetryPolicy(Builder b) {
    this.maxAttempts = b.maxAttempts;
    this.initialBackoff = b.initialBackoff;
    this.maxBackoff = b.maxBackoff;
    this.backoffMultiplier = b.backoffMultiplier;
    this.retryableStatusCodes = Collections.unmodifiableSet(Checks.enumSetOf(b.retryableStatusCodes));
    this.idempotentRetryableStatusCodes =
        Collections.unmodifiableSet(Checks.enumSetOf(b.idempotentRetryableStatusCodes));
    this.jitter = b.jitter;
    this.perAttemptTimeout = b.perAttemptTimeout;
    this.hedgeOnPerAttemptTimeout = b.hedgeOnPerAttemptTimeout;
    this.timeout = b.timeout;
    this.idempotencyKey = b.idempotencyKey;
    this.initialBackoffNanos = initialBackoff.toNanos();
    this.maxBackoffNanos = maxBackoff.toNanos();
    this.perAttemptTimeoutNanos = perAttemptTimeout == null ? 0 : perAttemptTimeout.toNanos();
    this.timeoutNanos = timeout == null ? 0 : timeout.toNanos();
  }

  /**
   * Returns a builder with the defaults: 3 attempts, backoff from 100 ms growing by 2.0 up to 5 s
   * with {@link Jitter#A6} jitter, {@code UNAVAILABLE} retryable, no per-attempt timeout and no
   * default timeout.
   */
  public static Builder newBuilder() {
    return new Builder();
  }

  /** Returns a builder that starts from this policy's values. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.maxAttempts = maxAttempts;
    b.initialBackoff = initialBackoff;
    b.maxBackoff = maxBackoff;
    b.backoffMultiplier = backoffMultiplier;
    b.retryableStatusCodes = Checks.enumSetOf(retryableStatusCodes);
    b.idempotentRetryableStatusCodes = Checks.enumSetOf(idempotentRetryableStatusCodes);
    b.jitter = jitter;
    b.perAttemptTimeout = perAttemptTimeout;
    b.hedgeOnPerAttemptTimeout = hedgeOnPerAttemptTimeout;
    b.timeout = timeout;
    b.idempotencyKey = idempotencyKey;
    return b;
  }

  /**
   * A policy that never retries: one attempt, no timeout. Give it to a call through {@link
   * RetryInterceptor#POLICY} to turn retries off for that call.
   */
  public static RetryPolicy noRetry() {
    return NO_RETRY;
  }

  private static final RetryPolicy NO_RETRY = new Builder().maxAttempts(1).build();

  /** The most attempts a call may make, counting the first one. */
  @Override
  public int maxAttempts() {
    return maxAttempts;
  }

  /** The backoff before the first retry, before jitter. */
  public Duration initialBackoff() {
    return initialBackoff;
  }

  /** The largest backoff before jitter. */
  public Duration maxBackoff() {
    return maxBackoff;
  }

  /** The factor by which the backoff grows after each retry. */
  public double backoffMultiplier() {
    return backoffMultiplier;
  }

  /** The status codes for which the default classifier retries. Never empty, never OK. */
  public Set<Status.Code> retryableStatusCodes() {
    return retryableStatusCodes;
  }

  /**
   * The status codes the default classifier retries only for methods marked {@code
   * idempotency_level = IDEMPOTENT} or {@code NO_SIDE_EFFECTS}; may be empty, never holds OK.
   */
  public Set<Status.Code> idempotentRetryableStatusCodes() {
    return idempotentRetryableStatusCodes;
  }

  /** How backoff delays are randomized. */
  public Jitter jitter() {
    return jitter;
  }

  /** The limit of one attempt, or null when an attempt may use the whole call's deadline. */
  public @Nullable Duration perAttemptTimeout() {
    return perAttemptTimeout;
  }

  /**
   * Whether an attempt whose per-attempt timeout passed goes on beside the attempt that replaces
   * it, rather than being cancelled; see {@link Builder#hedgeOnPerAttemptTimeout}.
   */
  public boolean hedgeOnPerAttemptTimeout() {
    return hedgeOnPerAttemptTimeout;
  }

  /** The call's deadline when the caller set none, or null for no deadline. */
  @Override
  public @Nullable Duration timeout() {
    return timeout;
  }

  @Override
  public boolean idempotencyKey() {
    return idempotencyKey;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (this == o) {
      return true;
    }
    if (!(o instanceof RetryPolicy)) {
      return false;
    }
    RetryPolicy that = (RetryPolicy) o;
    return maxAttempts == that.maxAttempts
        && Double.compare(backoffMultiplier, that.backoffMultiplier) == 0
        && initialBackoff.equals(that.initialBackoff)
        && maxBackoff.equals(that.maxBackoff)
        && retryableStatusCodes.equals(that.retryableStatusCodes)
        && idempotentRetryableStatusCodes.equals(that.idempotentRetryableStatusCodes)
        && jitter == that.jitter
        && Objects.equals(perAttemptTimeout, that.perAttemptTimeout)
        && hedgeOnPerAttemptTimeout == that.hedgeOnPerAttemptTimeout
        && Objects.equals(timeout, that.timeout)
        && idempotencyKey == that.idempotencyKey;
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        maxAttempts,
        initialBackoff,
        maxBackoff,
        backoffMultiplier,
        retryableStatusCodes,
        idempotentRetryableStatusCodes,
        jitter,
        perAttemptTimeout,
        hedgeOnPerAttemptTimeout,
        timeout,
        idempotencyKey);
  }

  @Override
  public String toString() {
    return "RetryPolicy{maxAttempts="
        + maxAttempts
        + ", initialBackoff="
        + initialBackoff
        + ", maxBackoff="
        + maxBackoff
        + ", backoffMultiplier="
        + backoffMultiplier
        + ", retryableStatusCodes="
        + retryableStatusCodes
        + (idempotentRetryableStatusCodes.isEmpty()
            ? ""
            : ", idempotentRetryableStatusCodes=" + idempotentRetryableStatusCodes)
        + ", jitter="
        + jitter
        + (perAttemptTimeout == null ? "" : ", perAttemptTimeout=" + perAttemptTimeout)
        + (hedgeOnPerAttemptTimeout ? ", hedgeOnPerAttemptTimeout" : "")
        + (timeout == null ? "" : ", timeout=" + timeout)
        + (idempotencyKey ? ", idempotencyKey" : "")
        + '}';
  }

  /**
   * Builds {@link RetryPolicy} values. Each setter checks its argument at once; {@link #build()}
   * checks the rules that involve several fields and leaves the builder reusable.
   *
   * <p>Not thread-safe.
   */
  public static final class Builder {
    private int maxAttempts = 3;
    private Duration initialBackoff = DEFAULT_INITIAL_BACKOFF;
    private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
    private double backoffMultiplier = 2.0;
    private EnumSet<Status.Code> retryableStatusCodes = EnumSet.of(Status.Code.UNAVAILABLE);
    private EnumSet<Status.Code> idempotentRetryableStatusCodes = EnumSet.noneOf(Status.Code.class);
    private Jitter jitter = Jitter.A6;
    private @Nullable Duration perAttemptTimeout;
    private boolean hedgeOnPerAttemptTimeout;
    private @Nullable Duration timeout;
    private boolean idempotencyKey;

    private Builder() {}

    /**
     * Sets the most attempts a call may make, counting the first; 1 disables retries.
     *
     * @throws IllegalArgumentException if {@code maxAttempts < 1}
     */
    public Builder maxAttempts(int maxAttempts) {
      this.maxAttempts = Checks.maxAttempts(maxAttempts);
      return this;
    }

    /**
     * Sets the backoff before the first retry.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder initialBackoff(Duration initialBackoff) {
      Checks.positiveNanos("initialBackoff", initialBackoff);
      this.initialBackoff = initialBackoff;
      return this;
    }

    /**
     * Sets the largest backoff, before jitter.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder maxBackoff(Duration maxBackoff) {
      Checks.positiveNanos("maxBackoff", maxBackoff);
      this.maxBackoff = maxBackoff;
      return this;
    }

    /**
     * Sets the factor by which the backoff grows after each retry; 1 keeps it constant.
     *
     * <p>gRFC A6 only asks for a number above 0, but below 1 every backoff would be shorter than
     * the one before: the longer a failure lasts, the faster the retries, which is how retry
     * storms start. No use for that is known, so it is refused here and in a service config.
     *
     * @throws IllegalArgumentException if it is not a finite number >= 1
     */
    public Builder backoffMultiplier(double backoffMultiplier) {
      if (!(backoffMultiplier >= 1) || Double.isInfinite(backoffMultiplier)) {
        throw Checks.broken(
            "backoffMultiplier",
            "must be a finite number >= 1 (below 1, each backoff would be shorter than the one"
                + " before; 1 keeps it constant)",
            backoffMultiplier);
      }
      this.backoffMultiplier = backoffMultiplier;
      return this;
    }

    /**
     * Sets the status codes worth another attempt, replacing the previous set.
     *
     * @throws IllegalArgumentException if no code is given or OK is among them
     */
    public Builder retryableStatusCodes(Status.Code... codes) {
      return retryableStatusCodes(Arrays.asList(codes));
    }

    /**
     * Sets the status codes worth another attempt, replacing the previous set.
     *
     * @throws IllegalArgumentException if the collection is empty or holds OK
     * @throws NullPointerException if the collection or one of its elements is null
     */
    public Builder retryableStatusCodes(Collection<Status.Code> codes) {
      EnumSet<Status.Code> set = Checks.statusCodes("retryableStatusCodes", codes);
      if (set.isEmpty()) {
        throw new Checks.BrokenRule(
            "retryableStatusCodes",
            "must name at least one status code",
            "retryableStatusCodes must name at least one status code; to disable retries use"
                + " maxAttempts(1)");
      }
      this.retryableStatusCodes = set;
      return this;
    }

    /**
     * Sets status codes that are retried only for methods marked {@code idempotency_level =
     * IDEMPOTENT} or {@code NO_SIDE_EFFECTS} in their proto, replacing the previous set: for
     * example ABORTED or an INTERNAL that may have taken effect, which is harmless to repeat only
     * when repeating the call is. Empty by default.
     *
     * @throws IllegalArgumentException if OK is among them
     */
    public Builder idempotentRetryableStatusCodes(Status.Code... codes) {
      this.idempotentRetryableStatusCodes =
          Checks.statusCodes("idempotentRetryableStatusCodes", Arrays.asList(codes));
      return this;
    }

    /** Sets how backoff delays are randomized; {@link Jitter#A6} by default. */
    public Builder jitter(Jitter jitter) {
      this.jitter = Objects.requireNonNull(jitter, "jitter");
      return this;
    }

    /**
     * Limits each attempt to {@code perAttemptTimeout}, within the call's deadline. When the time
     * passes, the attempt gives way to another only if one can start now: the method may be
     * repeated after a timeout (marked idempotent or side-effect free, for the default
     * classifier), attempts are left, the call's deadline has room for the backoff and the budget
     * grants the retry. Otherwise the attempt goes on until the call's deadline, and the final
     * status says why: under overload, cancelling a request that is only slow, with nothing to
     * replace it, turns a late answer into a failure.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder perAttemptTimeout(Duration perAttemptTimeout) {
      Checks.positiveNanos("perAttemptTimeout", perAttemptTimeout);
      this.perAttemptTimeout = perAttemptTimeout;
      return this;
    }

    /**
     * When an attempt's per-attempt timeout passes and another attempt may start (see {@link
     * #perAttemptTimeout}), keeps the slow attempt running beside the new one instead of
     * cancelling it: the first to answer wins and the other is cancelled, as in hedging. The new
     * attempt starts after the usual backoff and counts against {@code maxAttempts} and the budget
     * (as a hedge). Off by default; needs a {@link #perAttemptTimeout}. Like hedging, it is for
     * methods that are safe to repeat: the default classifier allows it only for methods marked
     * idempotent or side-effect free.
     */
    public Builder hedgeOnPerAttemptTimeout(boolean hedgeOnPerAttemptTimeout) {
      this.hedgeOnPerAttemptTimeout = hedgeOnPerAttemptTimeout;
      return this;
    }

    /**
     * Sets the deadline of calls whose caller set none, in CallOptions or in the Context. It covers
     * all attempts. A caller's own deadline always wins.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder timeout(Duration timeout) {
      Checks.positiveNanos("timeout", timeout);
      this.timeout = timeout;
      return this;
    }

    /**
     * Gives every call an idempotency key (see {@link CallPolicy#idempotencyKey()}); off by
     * default. The server must deduplicate by it (the {@code grpc-retry-idempotency} module's
     * server interceptor does); without that, the key is an ignored header and a retried
     * non-idempotent call may take effect twice.
     */
    public Builder idempotencyKey(boolean idempotencyKey) {
      this.idempotencyKey = idempotencyKey;
      return this;
    }

    /**
     * Returns a policy with the builder's values; the builder stays usable.
     *
     * @throws IllegalArgumentException if {@code maxBackoff < initialBackoff}, or if {@code
     *     hedgeOnPerAttemptTimeout} is set without a {@code perAttemptTimeout}
     */
    public RetryPolicy build() {
      if (hedgeOnPerAttemptTimeout && perAttemptTimeout == null) {
        throw new IllegalArgumentException(
            "hedgeOnPerAttemptTimeout needs a perAttemptTimeout: set one, or leave"
                + " hedgeOnPerAttemptTimeout false");
      }
      if (maxBackoff.compareTo(initialBackoff) < 0) {
        throw new IllegalArgumentException(
            "maxBackoff must be >= initialBackoff: maxBackoff="
                + maxBackoff
                + ", initialBackoff="
                + initialBackoff);
      }
      return new RetryPolicy(this);
    }
  }
}
