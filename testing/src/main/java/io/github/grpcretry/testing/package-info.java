/**
 * A test-scope kit for code that talks gRPC: {@link io.github.grpcretry.testing.ManualClock} moves
 * time by hand, {@link io.github.grpcretry.testing.FaultInjector} scripts server failures and
 * records every attempt, and {@link io.github.grpcretry.testing.GrpcServerExtension} gives each
 * JUnit 5 test its own in-process server and channels and releases them afterwards.
 */
@NullMarked
package io.github.grpcretry.testing;

import org.jspecify.annotations.NullMarked;
