/**
 * OpenTelemetry metrics for grpc-retry: {@link io.github.grpcretry.opentelemetry.RetryMetrics}
 * records gRFC A96's retry metrics and this library's own from a {@code RetryListener}.
 *
 * <p>Everything in this package is non-null unless annotated {@code @Nullable}.
 */
@NullMarked
package io.github.grpcretry.opentelemetry;

import org.jspecify.annotations.NullMarked;
