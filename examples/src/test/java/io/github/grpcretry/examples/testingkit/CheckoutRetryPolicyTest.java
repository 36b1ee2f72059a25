package io.github.grpcretry.examples.testingkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.AttemptRecord;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A policy of 4 attempts with multi-second backoffs, tested in milliseconds without sleeping. */
class CheckoutRetryPolicyTest {
  // README:testing:start
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @RegisterExtension
  final GrpcServerExtension grpc =
      GrpcServerExtension.create().addService(new DemoItemService()).addServerInterceptor(faults);

  @Test
  void survivesThreeOutagesWithBackoffsOfSeconds() throws Exception {
    RetryPolicy policy = RetryPolicy.newBuilder()
        .maxAttempts(4)
        .initialBackoff(Duration.ofSeconds(2))
        .maxBackoff(Duration.ofSeconds(30))
        .backoffMultiplier(3.0)
        .retryableStatusCodes(Status.Code.UNAVAILABLE)
        .build();
    RetryInterceptor retry = RetryInterceptor.newBuilder()
        .defaultPolicy(policy)
        .scheduler(clock.scheduler())   // backoff timers run when the test moves the clock
        .ticker(clock.ticker())
        .random(() -> 0.5)              // A6 jitter factor of exactly 1.0
        .build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    faults.script(ItemServiceGrpc.getGetItemMethod()).then(Fault.fail(Status.UNAVAILABLE), 3);

    Future<Item> reply = ItemServiceGrpc.newFutureStub(channel)
        .getItem(GetItemRequest.newBuilder().setId("cart-7").build());
    for (Duration backoff : new Duration[] {
        Duration.ofSeconds(2), Duration.ofSeconds(6), Duration.ofSeconds(18)}) {
      assertThat(clock.awaitPendingTasks(1, Duration.ofSeconds(10))).isTrue();
      assertThat(clock.pendingDelays()).containsExactly(backoff);
      clock.advance(backoff);
    }

    assertThat(reply.get(10, TimeUnit.SECONDS).getId()).isEqualTo("cart-7");
    assertThat(faults.attempts(ItemServiceGrpc.getGetItemMethod()))
        .extracting(AttemptRecord::previousAttempts)
        .containsExactly(0, 1, 2, 3);
    assertThat(clock.nanoTime()).isEqualTo(Duration.ofSeconds(26).toNanos());
  }
  // README:testing:end
}
