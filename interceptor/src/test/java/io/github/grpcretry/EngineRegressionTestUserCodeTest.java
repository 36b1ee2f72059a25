// How each test fails on the engine of 523c874 (RetryingCall before the rewrite):
// - anInterceptorBelowThatThrowsFromStartOnTheFirstAttemptClosesTheCallWithInternal: the engine
//   cancels the call that threw, whose real call was never started, so no close ever comes
//   ("onClose within 10 s").
// - anInterceptorBelowThatThrowsFromStartOnARetryClosesTheCallWithInternal: the same on the retry
//   ("onClose within 10 s").
// - aClassifierThatThrowsEndsTheCallWithInternal, aBudgetWhoseTryAcquireThrowsEndsTheCallWithInternal,
//   aBudgetWhoseRecordOutcomeThrowsEndsTheCallWithInternal,
//   aJitterSourceThatThrowsEndsTheCallWithInternal, aJitterSourceOutOfRangeEndsTheCallWithInternal:
//   the exception escapes the attempt's onClose (grpc-java logs it) and the call is left deciding
//   for ever; no onClose ("onClose within 10 s"). The blocking part is not reached; it would hang.

package io.github.grpcretry;

import static io.github.grpcretry.EngineRegressionKit.WAIT;
import static io.github.grpcretry.EngineRegressionKit.causedBy;
import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Regression tests for code that is not the engine's and throws: an interceptor below the retry
 * interceptor, the classifier, the budget and the jitter source. Each must end the call once, with
 * INTERNAL, the exception as cause and a description naming the culprit; none may hang the call.
 */
class EngineRegressionTestUserCodeTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final ExecutorService background = EngineRegressionKit.daemonThreads("user-code");

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  @AfterEach
  void stopBackground() {
    background.shutdownNow();
  }

  private static ClientCall<GetItemRequest, Item> startGet(
      Channel channel, RecordingListener<Item> listener, String id) {
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(2);
    call.sendMessage(get(id));
    call.halfClose();
    return call;
  }

  /** Runs a blocking GetItem on another thread and returns how it failed (bounded wait). */
  private Status blockingGetFails(Channel channel, @Nullable Duration deadline) throws Exception {
    Future<Item> future =
        background.submit(
            () -> {
              ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
              if (deadline != null) {
                stub = stub.withDeadline(clock.deadlineAfter(deadline));
              }
              return stub.getItem(get("blocking"));
            });
    Throwable thrown = catchThrowable(() -> future.get(WAIT.toMillis(), TimeUnit.MILLISECONDS));
    assertThat(thrown).as("the blocking call fails, within %s", WAIT).isInstanceOf(ExecutionException.class);
    assertThat(thrown.getCause()).isInstanceOf(StatusRuntimeException.class);
    return ((StatusRuntimeException) thrown.getCause()).getStatus();
  }

  private static void assertInternal(Status status, @Nullable Throwable thrown, String culprit) {
    assertThat(status.getCode()).as("%s", status).isEqualTo(Status.Code.INTERNAL);
    if (thrown != null) {
      assertThat(causedBy(status.getCause(), thrown))
          .as("the thrown exception is in the cause chain of %s", status)
          .isTrue();
    }
    assertThat(status.getDescription()).as("the description names what threw").contains(culprit);
  }

  // 7 ---------------------------------------------------------------------------------------------

  private Channel below(ClientInterceptor interceptor) {
    return ClientInterceptors.intercept(
        ClientInterceptors.intercept(grpc.channel(), interceptor),
        retryOn(clock).defaultPolicy(policy(3).build()).build());
  }

  @Test
  void anInterceptorBelowThatThrowsFromStartOnTheFirstAttemptClosesTheCallWithInternal()
      throws Exception {
    IllegalStateException boom = new IllegalStateException("boom from start()");
    Channel channel = below(EngineRegressionKit.throwingFromStart(boom, 1));

    RecordingListener<Item> listener = new RecordingListener<>();
    startGet(channel, listener, "a");
    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(causedBy(status.getCause(), boom)).as("boom in the cause chain of %s", status).isTrue();
    listener.assertContractKept();

    Status blocking = blockingGetFails(channel, null);
    assertThat(blocking.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(causedBy(blocking.getCause(), boom)).as("boom in the cause chain of %s", blocking).isTrue();
    assertThat(faults.attemptCount(GET)).isZero();
  }

  @Test
  void anInterceptorBelowThatThrowsFromStartOnARetryClosesTheCallWithInternal() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    IllegalStateException boom = new IllegalStateException("boom from start() of attempt 2");
    Channel channel = below(EngineRegressionKit.throwingFromStart(boom, 2));

    RecordingListener<Item> listener = new RecordingListener<>();
    startGet(channel, listener, "a");
    Fixtures.awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100)); // the backoff: attempt 2 starts, and throws
    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(causedBy(status.getCause(), boom)).as("boom in the cause chain of %s", status).isTrue();
    listener.assertContractKept();

    Future<?> mover =
        background.submit(
            () -> {
              if (clock.awaitPendingTasks(1, WAIT)) {
                clock.advanceToNextTask();
              }
              return null;
            });
    Status blocking = blockingGetFails(channel, null);
    assertThat(blocking.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(causedBy(blocking.getCause(), boom)).as("boom in the cause chain of %s", blocking).isTrue();
    mover.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(faults.attemptCount(GET)).as("one failed first attempt per call").isEqualTo(2);
  }

  // 10 --------------------------------------------------------------------------------------------

  /**
   * Every attempt fails UNAVAILABLE, so the engine asks the classifier, the budget and the jitter
   * source; one of them throws. Checked with a listener (then a cancel after the close, which must
   * be harmless) and with a blocking stub that has a deadline.
   */
  private void assertUserCodeFailureEndsTheCall(
      RetryInterceptor.Builder builder, @Nullable Throwable thrown, String culprit) throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(), builder.defaultPolicy(policy(3).build()).build());

    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = startGet(channel, listener, "a");
    Status status = listener.awaitClose();
    assertInternal(status, thrown, culprit);
    call.cancel("cancelled after the close", null);
    assertThat(listener.events()).containsOnlyOnce("close");
    listener.assertContractKept();

    assertInternal(blockingGetFails(channel, Duration.ofSeconds(60)), thrown, culprit);
    assertThat(faults.attemptCount(GET)).as("one attempt per call").isEqualTo(2);
  }

  @Test
  void aClassifierThatThrowsEndsTheCallWithInternal() throws Exception {
    RuntimeException thrown = new UnsupportedOperationException("classifier broke");
    assertUserCodeFailureEndsTheCall(
        retryOn(clock)
            .classifier(
                failure -> {
                  throw thrown;
                }),
        thrown,
        "StatusClassifier");
  }

  @Test
  void aBudgetWhoseTryAcquireThrowsEndsTheCallWithInternal() throws Exception {
    RuntimeException thrown = new UnsupportedOperationException("tryAcquire broke");
    RetryBudget budget =
        new RetryBudget() {
          @Override
          public boolean tryAcquire(AttemptKind kind) {
            throw thrown;
          }

          @Override
          public void recordOutcome(int attemptNumber, Outcome outcome) {}
        };
    assertUserCodeFailureEndsTheCall(retryOn(clock).retryBudget(budget), thrown, "RetryBudget");
  }

  @Test
  void aBudgetWhoseRecordOutcomeThrowsEndsTheCallWithInternal() throws Exception {
    RuntimeException thrown = new UnsupportedOperationException("recordOutcome broke");
    RetryBudget budget =
        new RetryBudget() {
          @Override
          public boolean tryAcquire(AttemptKind kind) {
            return true;
          }

          @Override
          public void recordOutcome(int attemptNumber, Outcome outcome) {
            throw thrown;
          }
        };
    assertUserCodeFailureEndsTheCall(retryOn(clock).retryBudget(budget), thrown, "RetryBudget");
  }

  @Test
  void aJitterSourceThatThrowsEndsTheCallWithInternal() throws Exception {
    RuntimeException thrown = new UnsupportedOperationException("random broke");
    assertUserCodeFailureEndsTheCall(
        retryOn(clock)
            .random(
                () -> {
                  throw thrown;
                }),
        thrown,
        "random");
  }

  @Test
  void aJitterSourceOutOfRangeEndsTheCallWithInternal() throws Exception {
    // 1.0 is outside [0, 1): the backoff arithmetic refuses it.
    assertUserCodeFailureEndsTheCall(retryOn(clock).random(() -> 1.0), null, "random");
  }
}
