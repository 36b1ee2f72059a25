/**
 * An {@link io.github.grpcretry.idempotency.IdempotencyStore} on Redis, for a fleet of server
 * replicas that share no routing: {@link io.github.grpcretry.idempotency.redis.RedisIdempotencyStore}.
 *
 * <p>Everything in this package is non-null unless annotated {@code @Nullable}.
 */
@NullMarked
package io.github.grpcretry.idempotency.redis;

import org.jspecify.annotations.NullMarked;
