/**
 * The retry-storm lab: capacity-limited gRPC servers on loopback, failure scenarios (a slowdown,
 * an outage, a brownout, load shedding with pushback, a slow replica behind {@code round_robin},
 * transient failures only), and open-loop clients that call them with no retries, naive retries,
 * grpc-java's built-in retry with gRFC A6 throttling, and grpc-retry with its defaults, hedging on
 * the per-attempt timeout, a circuit breaker or adaptive throttling. {@link
 * io.github.grpcretry.lab.StormLab} runs every scenario with every set-up, one after another, and
 * reports one matrix of what each did to the callers and to the servers.
 *
 * <p>Everything in this package is non-null unless annotated {@code @Nullable}.
 */
@NullMarked
package io.github.grpcretry.lab;

import org.jspecify.annotations.NullMarked;
