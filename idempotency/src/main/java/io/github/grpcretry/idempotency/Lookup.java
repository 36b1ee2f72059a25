package io.github.grpcretry.idempotency;

import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * The answer of {@link IdempotencyStore#begin}: the key was claimed, it has a stored outcome, or
 * another request holds it.
 *
 * <p>This class is immutable and thread-safe; its byte arrays are shared, never copied, and
 * neither the store nor the interceptor modifies them.
 */
public final class Lookup {
  /** What the store found. */
  public enum Kind {
    /** Nobody held the key; the caller holds it now and executes. */
    CLAIMED,
    /** The key has a stored outcome. */
    COMPLETED,
    /** Another request holds the key and has not finished. */
    IN_FLIGHT
  }

  private final Kind kind;
  private final IdempotencyStore.@Nullable Claim claim;
  private final byte @Nullable [] requestHash;
  private final byte @Nullable [] outcome;
  private final @Nullable CompletableFuture<@Nullable Lookup> next;

  private Lookup(
      Kind kind,
      IdempotencyStore.@Nullable Claim claim,
      byte @Nullable [] requestHash,
      byte @Nullable [] outcome,
      @Nullable CompletableFuture<@Nullable Lookup> next) {
    this.kind = kind;
    this.claim = claim;
    this.requestHash = requestHash;
    this.outcome = outcome;
    this.next = next;
  }

  /** Returns the answer that the caller now holds the key through {@code claim}. */
  public static Lookup claimed(IdempotencyStore.Claim claim) {
    return new Lookup(Kind.CLAIMED, Objects.requireNonNull(claim, "claim"), null, null, null);
  }

  /**
   * Returns the answer that the key has the stored {@code outcome} of a request whose hash was
   * {@code requestHash}.
   */
  public static Lookup completed(byte[] requestHash, byte[] outcome) {
    return new Lookup(
        Kind.COMPLETED,
        null,
        Objects.requireNonNull(requestHash, "requestHash"),
        Objects.requireNonNull(outcome, "outcome"),
        null);
  }

  /**
   * Returns the answer that a request whose hash is {@code requestHash} holds the key.
   *
   * @param next completes with a {@link Kind#COMPLETED} lookup when the holder's outcome is known,
   *     or with null when the holder gave the key up or its claim expired, so that the waiter asks
   *     {@link IdempotencyStore#begin} again. A future of its own for each waiter: the interceptor
   *     cancels it when the waiting call ends first, and the store then stops working for it.
   */
  public static Lookup inFlight(byte[] requestHash, CompletableFuture<@Nullable Lookup> next) {
    return new Lookup(
        Kind.IN_FLIGHT,
        null,
        Objects.requireNonNull(requestHash, "requestHash"),
        null,
        Objects.requireNonNull(next, "next"));
  }

  /** Returns what the store found. */
  public Kind kind() {
    return kind;
  }

  /**
   * Returns the claim of a {@link Kind#CLAIMED} answer.
   *
   * @throws IllegalStateException for another kind
   */
  public IdempotencyStore.Claim claim() {
    if (claim == null) {
      throw new IllegalStateException("a " + kind + " lookup has no claim");
    }
    return claim;
  }

  /**
   * Returns the request hash of the stored outcome or of the holder's request.
   *
   * @throws IllegalStateException for a {@link Kind#CLAIMED} answer
   */
  public byte[] requestHash() {
    if (requestHash == null) {
      throw new IllegalStateException("a " + kind + " lookup has no request hash");
    }
    return requestHash;
  }

  /**
   * Returns the stored outcome of a {@link Kind#COMPLETED} answer.
   *
   * @throws IllegalStateException for another kind
   */
  public byte[] outcome() {
    if (outcome == null) {
      throw new IllegalStateException("a " + kind + " lookup has no outcome");
    }
    return outcome;
  }

  /**
   * Returns the future of an {@link Kind#IN_FLIGHT} answer; see {@link #inFlight}.
   *
   * @throws IllegalStateException for another kind
   */
  public CompletableFuture<@Nullable Lookup> next() {
    if (next == null) {
      throw new IllegalStateException("a " + kind + " lookup has nothing to wait for");
    }
    return next;
  }

  @Override
  public String toString() {
    return "Lookup{" + kind + (outcome != null ? ", " + outcome.length + " bytes" : "") + "}";
  }
}
