package io.github.grpcretry;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * What the interceptor may do with a method's calls: retry them one attempt after another ({@link
 * RetryPolicy}) or hedge them, with attempts in flight side by side ({@link HedgingPolicy}). A
 * method has at most one of the two, as in the gRPC service config.
 *
 * <p>Thread-safe: implementations are immutable values.
 */
public sealed interface CallPolicy permits RetryPolicy, HedgingPolicy {

  /** The most attempts a call may make, counting the first one. */
  int maxAttempts();

  /** The call's deadline when the caller set none, or null for no deadline. */
  @Nullable Duration timeout();

  /**
   * Whether every call carries an idempotency key: one value in a request header, the same on
   * every attempt and hedge of the call, new for every call, so that a server that deduplicates
   * by it executes the call once however many attempts reach it. Such a method counts as safe to
   * repeat: its attempts are retried after a per-attempt timeout and may be hedged.
   */
  boolean idempotencyKey();
}
