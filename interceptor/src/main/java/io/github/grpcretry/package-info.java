/**
 * Retries for gRPC Java clients: {@link io.github.grpcretry.RetryInterceptor} retries failed
 * calls of every kind with exponential backoff and jitter, honours the caller's deadline and the
 * server's retry hints, and asks a {@link io.github.grpcretry.RetryBudget} before every retry.
 *
 * <p>Everything in this package is non-null unless annotated {@code @Nullable}.
 */
@NullMarked
package io.github.grpcretry;

import org.jspecify.annotations.NullMarked;
