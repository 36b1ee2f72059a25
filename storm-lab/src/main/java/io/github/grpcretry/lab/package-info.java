/**
 * The retry-storm lab: a capacity-limited gRPC server on loopback, a fault that cuts its capacity
 * for a few seconds, and open-loop clients that call it with no retries, naive retries, grpc-java's
 * built-in retry with gRFC A6 throttling, and grpc-retry with its default budget. {@link
 * io.github.grpcretry.lab.StormLab} runs them one after another and reports what each did to the
 * server and how fast goodput came back.
 *
 * <p>Everything in this package is non-null unless annotated {@code @Nullable}.
 */
@NullMarked
package io.github.grpcretry.lab;

import org.jspecify.annotations.NullMarked;
