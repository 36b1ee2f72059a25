package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.ClientInterceptors;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two layers: a front service whose handler calls a back service. When the back service is down
 * and the front's budget refuses to retry it, the front's callers must not retry either.
 */
class UpstreamPushbackTest {
  @RegisterExtension final GrpcServerExtension back = GrpcServerExtension.create();
  @RegisterExtension final GrpcServerExtension front = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector backFaults = FaultInjector.create(clock);
  private final FaultInjector frontFaults = FaultInjector.create(clock);
  private ItemServiceGrpc.ItemServiceBlockingStub backStub;

  @BeforeEach
  void setUp() {
    backFaults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("back is down")));
    back.addService(new DemoItemService()).addServerInterceptor(backFaults);
    // The front's client: its budget has nothing left, as during an outage.
    RetryBudget empty = TokenBucketBudget.newBuilder().maxTokens(1).build();
    empty.tryAcquire(RetryBudget.AttemptKind.RETRY);
    backStub =
        ItemServiceGrpc.newBlockingStub(
            ClientInterceptors.intercept(
                back.channel(), retryOn(clock).defaultPolicy(policy(5).build()).retryBudget(empty).build()));
  }

  /** A front service that calls the back service and hands its failure on as {@code onFailure} says. */
  private ItemServiceGrpc.ItemServiceImplBase front(
      java.util.function.Function<StatusRuntimeException, Throwable> onFailure) {
    return new ItemServiceGrpc.ItemServiceImplBase() {
      @Override
      public void getItem(GetItemRequest request, StreamObserver<Item> observer) {
        try {
          observer.onNext(backStub.getItem(request));
          observer.onCompleted();
        } catch (StatusRuntimeException e) {
          observer.onError(onFailure.apply(e));
        }
      }
    };
  }

  private ItemServiceGrpc.ItemServiceBlockingStub frontClient() {
    return ItemServiceGrpc.newBlockingStub(
        ClientInterceptors.intercept(
            front.channel(), retryOn(clock).defaultPolicy(policy(5).build()).build()));
  }

  @Test
  void aHandlerPassingTheFailureOnMakesItsCallersStop() {
    ItemServiceGrpc.ItemServiceImplBase passOn = front(e -> e);
    front.addService(ServerInterceptors.intercept(passOn, UpstreamPushbackInterceptor.create()))
        .addServerInterceptor(frontFaults);

    assertThatThrownBy(() -> frontClient().getItem(get("a")))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
              assertThat(e.getStatus().getDescription())
                  .contains("not retried because the server asked not to retry");
              assertThat(e.getTrailers().get(ServerHints.PUSHBACK_KEY)).isEqualTo("-1");
              // The front's own marker ("budget") was turned into the pushback; the top client
              // marks its status too, for its own callers, because it stopped on that pushback.
              assertThat(e.getTrailers().getAll(UpstreamPushbackInterceptor.GAVE_UP_KEY))
                  .containsExactly("pushback");
            });
    assertThat(frontFaults.attemptCount(GET)).isEqualTo(1);
    assertThat(backFaults.attemptCount(GET)).isEqualTo(1);
  }

  @Test
  void aHandlerWrappingTheFailureAsACauseMakesItsCallersStop() {
    ItemServiceGrpc.ItemServiceImplBase wrap =
        front(
            e -> Status.UNAVAILABLE.withDescription("lookup failed").withCause(e).asRuntimeException());
    front.addService(ServerInterceptors.intercept(wrap, UpstreamPushbackInterceptor.create()))
        .addServerInterceptor(frontFaults);

    assertThatThrownBy(() -> frontClient().getItem(get("a")))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getTrailers().get(ServerHints.PUSHBACK_KEY)).isEqualTo("-1"));
    assertThat(frontFaults.attemptCount(GET)).isEqualTo(1);
  }

  @Test
  void withoutTheInterceptorTheStormCrossesTheLayer() {
    java.util.concurrent.atomic.AtomicReference<String> marker =
        new java.util.concurrent.atomic.AtomicReference<>();
    ItemServiceGrpc.ItemServiceImplBase passOn =
        front(
            e -> {
              marker.set(e.getTrailers().get(UpstreamPushbackInterceptor.GAVE_UP_KEY));
              return e;
            });
    front.addService(passOn).addServerInterceptor(frontFaults);
    // The top client retries freely at once: only its maxAttempts stops it.
    ItemServiceGrpc.ItemServiceBlockingStub top =
        ItemServiceGrpc.newBlockingStub(
            ClientInterceptors.intercept(
                front.channel(),
                retryOn(clock).defaultPolicy(policy(3).build()).build()));
    Thread mover = new Thread(() -> {
      try {
        for (int i = 0; i < 2; i++) {
          if (clock.awaitPendingTasks(1, java.time.Duration.ofSeconds(10))) {
            clock.advanceToNextTask();
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    mover.start();
    assertThatThrownBy(() -> top.getItem(get("a"))).isInstanceOf(StatusRuntimeException.class);
    assertThat(frontFaults.attemptCount(GET)).isEqualTo(3);
    assertThat(marker.get()).as("the front's client marked its give-up").isEqualTo("budget");
  }

  @Test
  void successesAndOtherFailuresPassUntouched() {
    front.addService(ServerInterceptors.intercept(new DemoItemService(), UpstreamPushbackInterceptor.create()))
        .addServerInterceptor(frontFaults);
    frontFaults.script(GET).then(Fault.fail(Status.NOT_FOUND));
    assertThatThrownBy(() -> frontClient().getItem(get("a")))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getTrailers().containsKey(ServerHints.PUSHBACK_KEY)).isFalse());
    assertThat(frontClient().getItem(get("b")).getId()).isEqualTo("b");
  }
}
