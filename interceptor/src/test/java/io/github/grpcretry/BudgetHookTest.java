package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import io.github.grpcretry.Fixtures.RecordingBudget;
import io.github.grpcretry.RetryBudget.AttemptKind;
import io.github.grpcretry.RetryBudget.Outcome;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.ClientInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The interceptor asks the budget before every retry and tells it every outcome. */
class BudgetHookTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final RecordingBudget budget = new RecordingBudget();
  private ItemServiceGrpc.ItemServiceFutureStub stub;

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    stub =
        ItemServiceGrpc.newFutureStub(
            ClientInterceptors.intercept(
                grpc.channel(),
                retryOn(clock).defaultPolicy(policy(3).build()).retryBudget(budget).build()));
  }

  @Test
  void aRefusedRetryEndsTheCallWithTheLastStatus() throws Exception {
    budget.allow.set(false);
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    ListenableFuture<Item> future = stub.getItem(get("a"));
    try {
      future.get(10, TimeUnit.SECONDS);
      throw new AssertionError("the call succeeded");
    } catch (ExecutionException e) {
      Status status = ((StatusRuntimeException) e.getCause()).getStatus();
      assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
      // The RecordingBudget has no stats: the note names the budget itself.
      assertThat(status.getDescription())
          .isEqualTo(
              "down [grpc-retry: 1 attempt; not retried because the retry budget refused"
                  + " another attempt (the budget given to RetryInterceptor.Builder.retryBudget: "
                  + budget
                  + ")]");
    }
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(clock.pendingTaskCount()).isZero();
    assertThat(budget.outcomes()).containsExactly(Outcome.RETRYABLE_FAILURE);
  }

  @Test
  void everyAttemptsOutcomeIsReportedAndEveryRetryAsked() throws Exception {
    faults
        .script(GET)
        .then(Fault.fail(Status.UNAVAILABLE))
        .then(Fault.fail(Status.UNAVAILABLE))
        .then(Fault.pass());
    ListenableFuture<Item> future = stub.getItem(get("a"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(200));
    future.get(10, TimeUnit.SECONDS);
    assertThat(budget.outcomes())
        .containsExactly(Outcome.RETRYABLE_FAILURE, Outcome.RETRYABLE_FAILURE, Outcome.SUCCESS);
    assertThat(budget.attemptNumbers).containsExactly(1, 2, 3);
    assertThat(budget.acquired).containsExactly(AttemptKind.RETRY, AttemptKind.RETRY);
  }

  @Test
  void theBudgetIsNotAskedWhenNoRetryWouldBeMadeAnyway() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    ListenableFuture<Item> future = stub.getItem(get("a"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(200));
    try {
      future.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException expected) {
      // maxAttempts reached
    }
    assertThat(budget.outcomes()).hasSize(3);
    assertThat(budget.acquired).hasSize(2);
  }
}
