/**
 * The server half of idempotency keys: {@link io.github.grpcretry.idempotency.IdempotencyInterceptor}
 * executes a request that carries a key once per caller and method, and answers every duplicate
 * with the outcome of that one execution, kept in an {@link
 * io.github.grpcretry.idempotency.IdempotencyStore}: {@link
 * io.github.grpcretry.idempotency.CaffeineIdempotencyStore} in memory, or a shared store for a fleet
 * of replicas.
 *
 * <p>Everything in this package is non-null unless annotated {@code @Nullable}.
 */
@NullMarked
package io.github.grpcretry.idempotency;

import org.jspecify.annotations.NullMarked;
