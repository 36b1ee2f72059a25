package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import io.github.grpcretry.Fixtures.RecordingBudget;
import io.github.grpcretry.RetryBudget.Outcome;
import io.github.grpcretry.demo.DemoItemService;
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
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The server's pushback trailer and RetryInfo detail, end to end. */
class ServerHintsRetryTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final RecordingBudget budget = new RecordingBudget();

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  private ItemServiceGrpc.ItemServiceFutureStub stub(RetryPolicy policy) {
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(), retryOn(clock).defaultPolicy(policy).retryBudget(budget).build());
    return ItemServiceGrpc.newFutureStub(channel);
  }

  private static Status failureOf(ListenableFuture<Item> future) throws Exception {
    try {
      future.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return ((StatusRuntimeException) e.getCause()).getStatus();
    }
    throw new AssertionError("the call succeeded");
  }

  @Test
  void pushbackSetsTheExactDelayAndRestartsTheBackoffSequence() throws Exception {
    faults
        .script(GET)
        .then(Fault.fail(Status.UNAVAILABLE))
        .then(Fault.fail(Status.UNAVAILABLE).withPushback(3_000))
        .then(Fault.fail(Status.UNAVAILABLE));
    ListenableFuture<Item> future = stub(policy(4).build()).getItem(get("a"));
    awaitTimers(clock, 1);
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(100));
    clock.advance(Duration.ofMillis(100));
    awaitTimers(clock, 1);
    // Exactly the server's delay: no jitter, no cap at maxBackoff.
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofSeconds(3));
    clock.advance(Duration.ofSeconds(3));
    awaitTimers(clock, 1);
    // The sequence starts over at initialBackoff, not at 200 ms.
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(100));
    clock.advance(Duration.ofMillis(100));
    assertThat(future.get(10, TimeUnit.SECONDS).getId()).isEqualTo("a");
    assertThat(faults.attempts(GET))
        .extracting(AttemptRecord::startNanos)
        .containsExactly(0L, 100_000_000L, 3_100_000_000L, 3_200_000_000L);
  }

  @Test
  void pushbackOfZeroRetriesAtOnce() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE).withPushback(0));
    assertThat(stub(policy(2).build()).getItem(get("a")).get(10, TimeUnit.SECONDS).getId())
        .isEqualTo("a");
    assertThat(faults.attemptCount(GET)).isEqualTo(2);
  }

  @Test
  void negativePushbackStopsRetriesAndCountsAgainstTheBudget() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE).withPushback(-1));
    Status status = failureOf(stub(policy(5).build()).getItem(get("a")));
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription())
        .contains("1 attempt; not retried because the server asked not to retry");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(budget.outcomes()).containsExactly(Outcome.RETRYABLE_FAILURE);
  }

  @Test
  void unparseablePushbackStopsRetries() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE).withPushbackValue("soon"));
    Status status = failureOf(stub(policy(5).build()).getItem(get("a")));
    assertThat(status.getDescription()).contains("the server asked not to retry");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
  }

  @Test
  void pushbackNeverMakesATerminalStatusRetryable() throws Exception {
    faults.script(GET).then(Fault.fail(Status.PERMISSION_DENIED).withPushback(0));
    Status status = failureOf(stub(policy(5).build()).getItem(get("a")));
    assertThat(status.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
  }

  @Test
  void pushbackNeverRaisesTheAttemptLimit() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE).withPushback(0));
    Status status = failureOf(stub(policy(3).build()).getItem(get("a")));
    assertThat(status.getDescription()).contains("maxAttempts (3) reached");
    assertThat(faults.attemptCount(GET)).isEqualTo(3);
  }

  @Test
  void retryInfoSetsTheDelay() throws Exception {
    faults
        .script(GET)
        .then(Fault.fail(Status.RESOURCE_EXHAUSTED).withRetryInfo(Duration.ofMillis(2_500)));
    ListenableFuture<Item> future =
        stub(policy(2).retryableStatusCodes(Status.Code.RESOURCE_EXHAUSTED).build())
            .getItem(get("a"));
    awaitTimers(clock, 1);
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(2_500));
    clock.advance(Duration.ofMillis(2_500));
    assertThat(future.get(10, TimeUnit.SECONDS).getId()).isEqualTo("a");
  }

  @Test
  void retryInfoNeverPushesARetryPastTheDeadline() throws Exception {
    faults
        .script(GET)
        .then(Fault.fail(Status.UNAVAILABLE).withRetryInfo(Duration.ofSeconds(30)));
    Status status =
        failureOf(
            stub(policy(2).build())
                .withDeadline(clock.deadlineAfter(Duration.ofSeconds(20)))
                .getItem(get("a")));
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).contains("would start at or after the deadline");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
  }
}
