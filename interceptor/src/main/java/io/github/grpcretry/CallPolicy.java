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
}
