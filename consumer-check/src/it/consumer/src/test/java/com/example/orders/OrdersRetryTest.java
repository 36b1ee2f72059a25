package com.example.orders;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.testing.AttemptRecord;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Status;
import io.grpc.stub.ClientCalls;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The testing kit from a user's project: backoffs of seconds on a manual clock. */
class OrdersRetryTest {
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @RegisterExtension
  final GrpcServerExtension grpc =
      GrpcServerExtension.create().addService(Echo.service()).addServerInterceptor(faults);

  @Test
  void retriesTwiceWithBackoffsOfSecondsThatTakeNoTime() throws Exception {
    faults.script(Echo.SAY).then(Fault.fail(Status.UNAVAILABLE), 2);
    RetryInterceptor retry =
        RetryInterceptor.newBuilder()
            .defaultPolicy(
                RetryPolicy.newBuilder()
                    .maxAttempts(3)
                    .initialBackoff(Duration.ofSeconds(2))
                    .maxBackoff(Duration.ofSeconds(10))
                    .retryableStatusCodes(Status.Code.UNAVAILABLE)
                    .build())
            .scheduler(clock.scheduler())
            .ticker(clock.ticker())
            .random(() -> 0.5)
            .build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);

    Future<String> reply =
        ClientCalls.futureUnaryCall(
            channel.newCall(Echo.SAY, CallOptions.DEFAULT), "order-7");
    for (Duration backoff : List.of(Duration.ofSeconds(2), Duration.ofSeconds(4))) {
      assertTrue(clock.awaitPendingTasks(1, Duration.ofSeconds(10)));
      assertEquals(List.of(backoff), clock.pendingDelays());
      clock.advance(backoff);
    }

    assertEquals("echo: order-7", reply.get(10, TimeUnit.SECONDS));
    assertEquals(
        List.of(0, 1, 2),
        faults.attempts(Echo.SAY).stream().map(AttemptRecord::previousAttempts).toList());
  }
}
