package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Cancellation by the caller and by the Context, in every state of a call. */
class CancellationTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final ExecutorService appExecutor =
      Executors.newSingleThreadExecutor(r -> new Thread(r, "app-executor"));
  private Channel channel;

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    channel =
        ClientInterceptors.intercept(
            grpc.channel(), retryOn(clock).defaultPolicy(policy(5).build()).build());
  }

  @AfterEach
  void tearDown() throws InterruptedException {
    appExecutor.shutdownNow();
    assertThat(appExecutor.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  private ClientCall<GetItemRequest, Item> start(
      RecordingListener<Item> listener, CallOptions options) {
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, options);
    call.start(listener, new Metadata());
    call.request(2);
    call.sendMessage(get("a"));
    call.halfClose();
    return call;
  }

  @Test
  void cancelDuringAnAttemptClosesOnceWithTheCallersStatus() throws Exception {
    faults.script(GET).then(Fault.hang());
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = start(listener, CallOptions.DEFAULT);
    assertThat(faults.awaitAttempts(GET, 1, Duration.ofSeconds(10))).isTrue();
    IllegalStateException cause = new IllegalStateException("user gave up");
    call.cancel("stop", cause);
    call.cancel("again", null);

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(status.getDescription()).isEqualTo("stop");
    assertThat(status.getCause()).isSameAs(cause);
    assertThat(faults.awaitClosed(GET, 1, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(GET).get(0).outcome().getCode()).isEqualTo(Status.Code.CANCELLED);
    clock.advance(Duration.ofSeconds(60));
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(listener.events()).containsExactly("close");
    listener.assertContractKept();
  }

  @Test
  void cancelDuringBackoffStopsTheTimerAndClosesThroughTheCallsExecutor() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call =
        start(listener, CallOptions.DEFAULT.withExecutor(appExecutor));
    awaitTimers(clock, 1);
    call.cancel(null, null);

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(status.getDescription()).isEqualTo("Call cancelled without message");
    assertThat(listener.threads()).containsOnly("app-executor");
    assertThat(clock.pendingTaskCount()).isZero();
    clock.advance(Duration.ofSeconds(60));
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void startAfterCancelIsRefusedLikeAnyClientCallAndSendsNothing() {
    // grpc-java's ClientCallImpl refuses the same way: a cancelled call cannot be started.
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.cancel("never mind", null);
    assertThatThrownBy(() -> call.start(listener, new Metadata()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("call was cancelled");
    assertThat(listener.events()).isEmpty();
    assertThat(faults.attemptCount(GET)).isZero();
  }

  @Test
  void contextCancellationDuringBackoffEndsTheCall() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    Context.CancellableContext context = Context.current().withCancellation();
    RecordingListener<Item> listener = new RecordingListener<>();
    context.run(() -> start(listener, CallOptions.DEFAULT));
    awaitTimers(clock, 1);
    context.cancel(new RuntimeException("shutting down"));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(status.getDescription()).contains("last attempt: UNAVAILABLE: down");
    assertThat(clock.pendingTaskCount()).isZero();
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void contextCancellationDuringAnAttemptIsNotRetried() throws Exception {
    faults.script(GET).then(Fault.hang());
    Context.CancellableContext context = Context.current().withCancellation();
    RecordingListener<Item> listener = new RecordingListener<>();
    context.run(() -> start(listener, CallOptions.DEFAULT));
    assertThat(faults.awaitAttempts(GET, 1, Duration.ofSeconds(10))).isTrue();
    context.cancel(null);

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.CANCELLED);
    clock.advance(Duration.ofSeconds(60));
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void cancelRacingTheBackoffTimerClosesExactlyOnceAndStartsNothingAfterwards() throws Exception {
    for (int i = 0; i < 50; i++) {
      faults.reset();
      faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
      RecordingListener<Item> listener = new RecordingListener<>();
      ClientCall<GetItemRequest, Item> call = start(listener, CallOptions.DEFAULT);
      awaitTimers(clock, 1);
      CountDownLatch go = new CountDownLatch(1);
      Thread canceller =
          new Thread(
              () -> {
                try {
                  go.await();
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
                call.cancel("race " + go, null);
              });
      canceller.start();
      go.countDown();
      clock.advance(Duration.ofMillis(100));
      canceller.join(10_000);

      Status status = listener.awaitClose();
      assertThat(status.getCode()).isIn(Status.Code.CANCELLED, Status.Code.UNAVAILABLE);
      clock.advance(Duration.ofSeconds(60));
      // maxAttempts is 5: any attempt started after the cancel would show here.
      assertThat(faults.attemptCount(GET)).isBetween(1, 2);
      assertThat(clock.pendingTaskCount()).isZero();
      listener.assertContractKept();
    }
  }

  @Test
  void methodsBeforeStartAreRejectedLikeAnyClientCall() {
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    assertThatThrownBy(() -> call.sendMessage(get("a")))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("Not started");
    assertThatThrownBy(() -> call.request(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("numMessages must be >= 0: -1");
    call.start(new RecordingListener<>(), new Metadata());
    assertThatThrownBy(() -> call.start(new RecordingListener<>(), new Metadata()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("Already started");
    call.cancel("done", null);
  }

  @Test
  void manyCallsCancelledAtRandomPointsEachCloseExactlyOnce() throws Exception {
    faults.script(GET).otherwise(Fault.randomly(0.5, 42, Fault.fail(Status.UNAVAILABLE)));
    List<RecordingListener<Item>> listeners = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      RecordingListener<Item> listener = new RecordingListener<>();
      listeners.add(listener);
      ClientCall<GetItemRequest, Item> call = start(listener, CallOptions.DEFAULT.withExecutor(appExecutor));
      if (i % 3 == 0) {
        call.cancel("early " + i, null);
      }
    }
    for (int round = 0; round < 10; round++) {
      clock.advance(Duration.ofMillis(100));
    }
    for (RecordingListener<Item> listener : listeners) {
      // Calls still in backoff after ten rounds get the clock moved until they finish.
      for (int step = 0; step < 1_000 && !listener.isClosed(); step++) {
        clock.advance(Duration.ofSeconds(1));
        listener.closesWithin(Duration.ofMillis(10));
      }
      assertThat(listener.isClosed()).as("closed").isTrue();
      listener.assertContractKept();
      assertThat(listener.events()).endsWith("close");
    }
  }
}
