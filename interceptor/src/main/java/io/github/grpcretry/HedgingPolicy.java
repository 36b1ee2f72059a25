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
 * Hedging: send the same request again after {@code hedgingDelay} when no answer has come, take
 * the first answer and cancel the rest. Only for methods that are safe to repeat.
 *
 * <p>The names match the {@code hedgingPolicy} fields of the gRPC service config (gRFC A6).
 *
 * <p>Thread-safe: instances are immutable.
 */
public final class HedgingPolicy implements CallPolicy {
  private final int maxAttempts;
  private final Duration hedgingDelay;
  private final Set<Status.Code> nonFatalStatusCodes;
  private final @Nullable Duration timeout;
  private final boolean idempotencyKey;
  private final boolean idempotent;

  // Nanosecond copies, read by every hedged call.
  final long hedgingDelayNanos;
  final long timeoutNanos; // 0 when unset

  private HedgingPolicy(Builder b) {
    this.maxAttempts = b.maxAttempts;
    this.hedgingDelay = b.hedgingDelay;
    this.nonFatalStatusCodes = Collections.unmodifiableSet(Checks.enumSetOf(b.nonFatalStatusCodes));
    this.timeout = b.timeout;
    this.idempotencyKey = b.idempotencyKey;
    this.idempotent = b.idempotent;
    this.hedgingDelayNanos = hedgingDelay.toNanos();
    this.timeoutNanos = timeout == null ? 0 : timeout.toNanos();
  }

  /** Returns a builder with the defaults: 3 attempts, no delay, no non-fatal codes. */
  public static Builder newBuilder() {
    return new Builder();
  }

  /** Returns a builder that starts from this policy's values. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.maxAttempts = maxAttempts;
    b.hedgingDelay = hedgingDelay;
    b.nonFatalStatusCodes = Checks.enumSetOf(nonFatalStatusCodes);
    b.timeout = timeout;
    b.idempotencyKey = idempotencyKey;
    b.idempotent = idempotent;
    return b;
  }

  /** The most attempts a call may send, counting the first. */
  @Override
  public int maxAttempts() {
    return maxAttempts;
  }

  /** How long to wait for an answer before sending the next attempt. */
  public Duration hedgingDelay() {
    return hedgingDelay;
  }

  /**
   * The status codes with which a failed attempt lets the others go on (and sends the next at
   * once); any other failure ends the call.
   */
  public Set<Status.Code> nonFatalStatusCodes() {
    return nonFatalStatusCodes;
  }

  @Override
  public @Nullable Duration timeout() {
    return timeout;
  }

  /**
   * Whether the policy declares its methods safe to repeat even when their proto does not mark
   * them {@code IDEMPOTENT} or {@code NO_SIDE_EFFECTS}.
   */
  public boolean idempotent() {
    return idempotent;
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
    if (!(o instanceof HedgingPolicy)) {
      return false;
    }
    HedgingPolicy that = (HedgingPolicy) o;
    return maxAttempts == that.maxAttempts
        && hedgingDelay.equals(that.hedgingDelay)
        && nonFatalStatusCodes.equals(that.nonFatalStatusCodes)
        && Objects.equals(timeout, that.timeout)
        && idempotent == that.idempotent
        && idempotencyKey == that.idempotencyKey;
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        maxAttempts, hedgingDelay, nonFatalStatusCodes, timeout, idempotent, idempotencyKey);
  }

  @Override
  public String toString() {
    return "HedgingPolicy{maxAttempts="
        + maxAttempts
        + ", hedgingDelay="
        + hedgingDelay
        + ", nonFatalStatusCodes="
        + nonFatalStatusCodes
        + (timeout == null ? "" : ", timeout=" + timeout)
        + (idempotent ? ", idempotent" : "")
        + (idempotencyKey ? ", idempotencyKey" : "")
        + '}';
  }

  /**
   * Builds {@link HedgingPolicy} values. Each setter checks its argument at once.
   *
   * <p>Not thread-safe.
   */
  public static final class Builder {
    private int maxAttempts = 3;
    private Duration hedgingDelay = Duration.ZERO;
    private EnumSet<Status.Code> nonFatalStatusCodes = EnumSet.noneOf(Status.Code.class);
    private @Nullable Duration timeout;
    private boolean idempotencyKey;
    private boolean idempotent;

    private Builder() {}

    /**
     * Sets the most attempts a call may send, counting the first.
     *
     * @throws IllegalArgumentException if {@code maxAttempts < 1}
     */
    public Builder maxAttempts(int maxAttempts) {
      this.maxAttempts = Checks.maxAttempts(maxAttempts);
      return this;
    }

    /**
     * Sets how long to wait for an answer before sending the next attempt; zero sends all at once.
     *
     * @throws IllegalArgumentException if it is negative
     */
    public Builder hedgingDelay(Duration hedgingDelay) {
      Objects.requireNonNull(hedgingDelay, "hedgingDelay");
      if (hedgingDelay.isNegative()) {
        throw Checks.broken("hedgingDelay", "must be >= 0", hedgingDelay);
      }
      Checks.nanos("hedgingDelay", hedgingDelay);
      this.hedgingDelay = hedgingDelay;
      return this;
    }

    /** Sets the non-fatal status codes, replacing the previous set; OK is not allowed. */
    public Builder nonFatalStatusCodes(Status.Code... codes) {
      return nonFatalStatusCodes(Arrays.asList(codes));
    }

    /**
     * Sets the non-fatal status codes, replacing the previous set; may be empty.
     *
     * @throws IllegalArgumentException if OK is among them
     */
    public Builder nonFatalStatusCodes(Collection<Status.Code> codes) {
      this.nonFatalStatusCodes = Checks.statusCodes("nonFatalStatusCodes", codes);
      return this;
    }

    /**
     * Sets the deadline of calls whose caller set none; see {@link RetryPolicy.Builder#timeout}.
     *
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder timeout(Duration timeout) {
      Checks.positiveNanos("timeout", timeout);
      this.timeout = timeout;
      return this;
    }

    /**
     * Declares the methods under this policy safe to repeat although their proto does not mark
     * them {@code idempotency_level = IDEMPOTENT} or {@code NO_SIDE_EFFECTS}. Without this, a
     * hedging policy on such a method is a configuration error: hedging sends the same request
     * several times, and the server may act on each.
     */
    public Builder idempotent(boolean idempotent) {
      this.idempotent = idempotent;
      return this;
    }

    /**
     * Gives every call an idempotency key, which also makes a method safe to hedge (see {@link
     * CallPolicy#idempotencyKey()}); off by default. The server must deduplicate by it.
     */
    public Builder idempotencyKey(boolean idempotencyKey) {
      this.idempotencyKey = idempotencyKey;
      return this;
    }

    /** Returns a policy with the builder's values; the builder stays usable. */
    public HedgingPolicy build() {
      return new HedgingPolicy(this);
    }
  }
}
