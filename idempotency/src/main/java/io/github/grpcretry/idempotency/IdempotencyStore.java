package io.github.grpcretry.idempotency;

import java.util.concurrent.CompletionStage;

/**
 * Where an {@link IdempotencyInterceptor} keeps the claims of running requests and the outcomes of
 * finished ones.
 *
 * <p>For each keyed request the interceptor calls {@link #begin} once, and acts on the answer:
 *
 * <ul>
 *   <li>{@link Lookup.Kind#CLAIMED}: nobody holds the key; the request is now its owner and
 *       executes, and the interceptor then calls exactly one of {@link Claim#complete} (the outcome,
 *       to keep) or {@link Claim#release} (nothing to keep: a duplicate must execute again);
 *   <li>{@link Lookup.Kind#COMPLETED}: the outcome of an earlier execution, replayed if the request
 *       hash matches;
 *   <li>{@link Lookup.Kind#IN_FLIGHT}: another request holds the key; the interceptor waits for
 *       {@link Lookup#next()} and then replays its outcome, or asks {@code begin} again.
 * </ul>
 *
 * <p>A store must make {@code begin} atomic: of requests that arrive at once with the same key,
 * exactly one is answered {@code CLAIMED}. Everything it keeps is keyed by the whole {@link
 * IdempotencyKey}, caller scope included, so that callers never see each other's outcomes. Outcomes
 * and request hashes are opaque bytes, never modified by either side once handed over.
 *
 * <p>Implementations must be thread-safe; {@code begin} is called on gRPC's threads and must not
 * block: a store that does I/O answers with a stage that completes later.
 */
public interface IdempotencyStore {

  /**
   * Looks {@code key} up and, if nobody holds it, claims it for the caller, atomically.
   *
   * @param requestHash the SHA-256 of the serialized request, kept with the claim and the outcome
   *     so that a key reused with a different request can be told apart
   * @return a stage that completes with the answer, or exceptionally if the store cannot answer (the
   *     interceptor then fails the request with {@code UNAVAILABLE}, executing nothing)
   */
  CompletionStage<Lookup> begin(IdempotencyKey key, byte[] requestHash);

  /**
   * The right to execute one request, given by {@link IdempotencyStore#begin}; exactly one of its
   * methods is called, once.
   *
   * <p>Implementations must be thread-safe: the call may come from any thread.
   */
  interface Claim {
    /**
     * Keeps {@code outcome} for the claimed key, for the store's time to live, and lets every
     * waiting duplicate replay it. A store may keep nothing (an outcome too large for it, an
     * unreachable server); a later duplicate then executes again.
     */
    void complete(byte[] outcome);

    /**
     * Gives the key up without an outcome, so that a duplicate, waiting or later, executes itself.
     */
    void release();
  }
}
