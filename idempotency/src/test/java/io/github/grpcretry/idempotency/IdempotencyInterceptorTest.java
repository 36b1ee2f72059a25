package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.common.util.concurrent.ListenableFuture;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What the server half does with keyed requests, through a real in-process server. */
class IdempotencyInterceptorTest {
  private static final long TIMEOUT_S = 10;

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final CountingItemService service = new CountingItemService(timer);
  private final CaffeineIdempotencyStore store = CaffeineIdempotencyStore.create();

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();

  @AfterEach
  void stopTimer() throws InterruptedException {
    timer.shutdownNow();
    assertThat(timer.awaitTermination(TIMEOUT_S, TimeUnit.SECONDS)).isTrue();
  }

  private IdempotencyInterceptor.Builder interceptor() {
    return IdempotencyInterceptor.newBuilder()
        .method(ItemServiceGrpc.getCreateItemMethod())
        .method(ItemServiceGrpc.getListItemsMethod())
        .singleTrustedCaller()
        .store(store);
  }

  private void serve(IdempotencyInterceptor interceptor) {
    grpc.addService(service).addServerInterceptor(interceptor);
  }

  private Channel keyed() {
    return ClientInterceptors.intercept(grpc.channel(), new Keys());
  }

  private ItemServiceGrpc.ItemServiceBlockingStub stub(String key) {
    return ItemServiceGrpc.newBlockingStub(keyed())
        .withOption(Keys.KEY, key)
        .withDeadlineAfter(TIMEOUT_S, TimeUnit.SECONDS);
  }

  private static CreateItemRequest create(String id, String value) {
    return CreateItemRequest.newBuilder()
        .setItem(Item.newBuilder().setId(id).setValue(value))
        .build();
  }

  /** Calls CreateItem with {@code key} and returns the response trailers through {@code sink}. */
  private Item createCapturing(String key, CreateItemRequest request, List<Metadata> sink) {
    AtomicReference<Metadata> headers = new AtomicReference<>();
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    try {
      return stub(key)
          .withInterceptors(MetadataUtils.newCaptureMetadataInterceptor(headers, trailers))
          .createItem(request);
    } finally {
      sink.add(trailers.get());
    }
  }

  @Test
  void executesOnceAndAnswersTheDuplicateWithTheStoredOutcome() {
    serve(interceptor().build());
    List<Metadata> trailers = new ArrayList<>();

    Item first = createCapturing("k1", create("a", "order-a"), trailers);
    Item second = createCapturing("k1", create("a", "order-a"), trailers);

    assertThat(second).isEqualTo(first);
    assertThat(service.executions("order-a")).isEqualTo(1);
    assertThat(trailers.get(0).get(IdempotencyInterceptor.REPLAYED_KEY)).isNull();
    assertThat(trailers.get(1).get(IdempotencyInterceptor.REPLAYED_KEY)).isEqualTo("true");
    assertThat(store.storedOutcomes()).isEqualTo(1);
    assertThat(store.claimsHeld()).isZero();
  }

  @Test
  void aNewKeyExecutesAgain() {
    serve(interceptor().build());
    Item first = stub("k1").createItem(create("a", "order-a"));
    Item second = stub("k2").createItem(create("a", "order-a"));
    assertThat(second.getId()).isNotEqualTo(first.getId());
    assertThat(service.executions("order-a")).isEqualTo(2);
  }

  @Test
  void requestsWithoutTheHeaderPassThroughUntouched() {
    serve(interceptor().build());
    ItemServiceGrpc.ItemServiceBlockingStub plain = ItemServiceGrpc.newBlockingStub(grpc.channel());
    plain.createItem(create("a", "order-a"));
    plain.createItem(create("a", "order-a"));
    assertThat(service.executions("order-a")).isEqualTo(2);
    assertThat(store.storedOutcomes()).isZero();
  }

  @Test
  void keysOnMethodsNotEnabledAreIgnored() {
    serve(
        IdempotencyInterceptor.newBuilder()
            .method(ItemServiceGrpc.getListItemsMethod())
            .singleTrustedCaller()
            .store(store)
            .build());
    stub("k1").createItem(create("a", "order-a"));
    stub("k1").createItem(create("a", "order-a"));
    assertThat(service.executions("order-a")).isEqualTo(2);
  }

  @Test
  void aKeyReusedWithADifferentRequestIsRefusedNamingTheKey() {
    serve(interceptor().build());
    stub("k1").createItem(create("a", "order-a"));

    StatusRuntimeException refused =
        catchThrowableOfType(
            StatusRuntimeException.class, () -> stub("k1").createItem(create("a", "order-b")));

    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(refused.getStatus().getDescription())
        .contains("idempotency-key \"k1\"")
        .contains("different request");
    assertThat(service.executions("order-b")).isZero();
  }

  @Test
  void aDifferentRequestIsRefusedWhileTheFirstStillRuns() throws Exception {
    serve(interceptor().build());
    ListenableFuture<Item> first =
        ItemServiceGrpc.newFutureStub(keyed()).withOption(Keys.KEY, "k1")
            .createItem(create("gate", "order-a"));

    StatusRuntimeException refused =
        catchThrowableOfType(
            StatusRuntimeException.class, () -> stub("k1").createItem(create("gate", "order-b")));
    service.gate.complete(null);

    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(first.get(TIMEOUT_S, TimeUnit.SECONDS).getValue()).isEqualTo("order-a");
    assertThat(service.executions("order-b")).isZero();
  }

  @Test
  void duplicatesThatArriveWhileTheFirstRunsWaitAndReceiveItsOutcome() throws Exception {
    serve(interceptor().build());
    ItemServiceGrpc.ItemServiceFutureStub futures =
        ItemServiceGrpc.newFutureStub(keyed()).withOption(Keys.KEY, "k1");
    // Direct executors: when createItem returns, the server has seen the request and, for the
    // duplicates, found the first one's claim.
    ListenableFuture<Item> first = futures.createItem(create("gate", "order-a"));
    List<ListenableFuture<Item>> duplicates = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      duplicates.add(futures.createItem(create("gate", "order-a")));
    }
    assertThat(store.claimsHeld()).isEqualTo(1);
    assertThat(duplicates).noneMatch(ListenableFuture::isDone);

    service.gate.complete(null);

    Item answer = first.get(TIMEOUT_S, TimeUnit.SECONDS);
    for (ListenableFuture<Item> duplicate : duplicates) {
      assertThat(duplicate.get(TIMEOUT_S, TimeUnit.SECONDS)).isEqualTo(answer);
    }
    assertThat(service.executions("order-a")).isEqualTo(1);
  }

  @Test
  void applicationErrorsAreStoredWithTheirTrailers() {
    serve(interceptor().build());
    List<StatusRuntimeException> errors = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      errors.add(
          catchThrowableOfType(
              StatusRuntimeException.class,
              () -> stub("k1").createItem(create("fail-FAILED_PRECONDITION", "order-a"))));
    }
    assertThat(service.executions("order-a")).isEqualTo(1);
    for (StatusRuntimeException error : errors) {
      assertThat(error.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
      assertThat(error.getStatus().getDescription()).isEqualTo("failed on purpose: order-a");
      assertThat(error.getTrailers().get(CountingItemService.DETAIL))
          .isEqualTo("FAILED_PRECONDITION");
    }
    assertThat(errors.get(1).getTrailers().get(IdempotencyInterceptor.REPLAYED_KEY))
        .isEqualTo("true");
  }

  @Test
  void transientErrorsAreNotStoredSoThatTheRetryRunsAgain() {
    serve(interceptor().build());
    for (String code : new String[] {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "ABORTED"}) {
      for (int i = 0; i < 2; i++) {
        StatusRuntimeException error =
            catchThrowableOfType(
                StatusRuntimeException.class,
                () -> stub("k-" + code).createItem(create("fail-" + code, "order-" + code)));
        assertThat(error.getStatus().getCode().name()).isEqualTo(code);
      }
      assertThat(service.executions("order-" + code)).as(code).isEqualTo(2);
    }
    assertThat(store.storedOutcomes()).isZero();
  }

  @Test
  void whenTheFirstOutcomeIsNotStorableOneWaitingDuplicateExecutesForAll() throws Exception {
    serve(interceptor().build());
    ItemServiceGrpc.ItemServiceFutureStub futures =
        ItemServiceGrpc.newFutureStub(keyed()).withOption(Keys.KEY, "k1");
    CompletableFuture<Void> firstGate = new CompletableFuture<>();
    service.gate = firstGate;
    ListenableFuture<Item> first = futures.createItem(create("gate", "order-a"));
    service.gate = new CompletableFuture<>(); // what the second execution waits on
    List<ListenableFuture<Item>> duplicates = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      duplicates.add(futures.createItem(create("gate", "order-a")));
    }
    assertThat(service.executions("order-a")).isEqualTo(1);

    // The first ends with a transient failure, which is not kept: one duplicate executes.
    firstGate.completeExceptionally(Status.UNAVAILABLE.withDescription("backend").asException());
    java.util.concurrent.ExecutionException failed =
        catchThrowableOfType(
            java.util.concurrent.ExecutionException.class,
            () -> first.get(TIMEOUT_S, TimeUnit.SECONDS));
    assertThat(Status.fromThrowable(failed).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(service.executions("order-a")).isEqualTo(2);
    assertThat(duplicates).noneMatch(ListenableFuture::isDone);

    service.gate.complete(null);

    Item answer = duplicates.get(0).get(TIMEOUT_S, TimeUnit.SECONDS);
    for (ListenableFuture<Item> duplicate : duplicates) {
      assertThat(duplicate.get(TIMEOUT_S, TimeUnit.SECONDS)).isEqualTo(answer);
    }
    assertThat(service.executions("order-a")).isEqualTo(2);
  }

  @Test
  void serverStreamsAreReplayedWholeInOrder() {
    serve(interceptor().build());
    ListItemsRequest request = ListItemsRequest.newBuilder().setPrefix("p").setLimit(5).build();
    List<Item> first = new ArrayList<>();
    stub("k1").listItems(request).forEachRemaining(first::add);
    List<Item> second = new ArrayList<>();
    stub("k1").listItems(request).forEachRemaining(second::add);

    assertThat(first).hasSize(5);
    assertThat(second).isEqualTo(first);
    assertThat(service.executions("p")).isEqualTo(1);
  }

  @Test
  void aStreamLongerThanMaxResponseBytesReachesItsCallerButIsNotStored() {
    serve(interceptor().maxResponseBytes(200).build());
    ListItemsRequest request = ListItemsRequest.newBuilder().setPrefix("p").setLimit(50).build();
    List<Item> first = new ArrayList<>();
    stub("k1").listItems(request).forEachRemaining(first::add);
    List<Item> second = new ArrayList<>();
    stub("k1").listItems(request).forEachRemaining(second::add);

    assertThat(first).hasSize(50);
    assertThat(second).hasSize(50);
    assertThat(service.executions("p")).isEqualTo(2);
    assertThat(store.storedOutcomes()).isZero();
  }

  @Test
  void malformedKeysAreRefusedWithoutExecuting() {
    serve(interceptor().maxKeyLength(8).build());
    for (String bad : new String[] {"", "123456789", "has space"}) {
      StatusRuntimeException refused =
          catchThrowableOfType(
              StatusRuntimeException.class, () -> stub(bad).createItem(create("a", "order-a")));
      assertThat(refused.getStatus().getCode()).as(bad).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(refused.getStatus().getDescription()).contains("idempotency-key");
    }
    Metadata twice = new Metadata();
    twice.put(Keys.HEADER, "a");
    twice.put(Keys.HEADER, "b");
    StatusRuntimeException refused =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                ItemServiceGrpc.newBlockingStub(grpc.channel())
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(twice))
                    .createItem(create("a", "order-a")));
    assertThat(refused.getStatus().getDescription()).contains("more than once");
    assertThat(service.executions("order-a")).isZero();
  }

  @Test
  void aHandlerThatThrowsReleasesTheKey() {
    serve(interceptor().build());
    for (int i = 0; i < 2; i++) {
      StatusRuntimeException error =
          catchThrowableOfType(
              StatusRuntimeException.class, () -> stub("k1").createItem(create("throw", "x")));
      assertThat(error.getStatus().getCode()).isEqualTo(Status.Code.UNKNOWN);
    }
    assertThat(service.executions("x")).isEqualTo(2);
    assertThat(store.claimsHeld()).isZero();
  }

  @Test
  void aHandlerThatOutlivesItsCallKeepsTheKeyForTheGracePeriodThenReleasesIt() throws Exception {
    ManualClock clock = ManualClock.create();
    serve(
        interceptor()
            .scheduler(clock.scheduler())
            .handlerGracePeriod(Duration.ofSeconds(30))
            .executor(Runnable::run)
            .build());
    ItemServiceGrpc.ItemServiceFutureStub futures =
        ItemServiceGrpc.newFutureStub(keyed()).withOption(Keys.KEY, "k1");
    ListenableFuture<Item> abandoned = futures.createItem(create("gate", "order-a"));
    abandoned.cancel(true); // the client gives up; the handler never answers this gate
    assertThat(clock.awaitPendingTasks(1, Duration.ofSeconds(TIMEOUT_S))).isTrue();
    ListenableFuture<Item> duplicate = futures.createItem(create("gate", "order-a"));
    assertThat(store.claimsHeld()).isEqualTo(1);
    assertThat(service.executions("order-a")).isEqualTo(1);

    clock.advance(Duration.ofSeconds(30));

    // The claim was released: the waiting duplicate executes, and answers once its gate opens.
    assertThat(service.executions("order-a")).isEqualTo(2);
    service.gate.complete(null);
    assertThat(duplicate.get(TIMEOUT_S, TimeUnit.SECONDS).getValue()).isEqualTo("order-a");
  }

  @Test
  void aHandlerThatFinishesAfterItsCallWasCancelledStillAnswersTheWaitingDuplicate()
      throws Exception {
    serve(interceptor().build());
    ItemServiceGrpc.ItemServiceFutureStub futures =
        ItemServiceGrpc.newFutureStub(keyed()).withOption(Keys.KEY, "k1");
    ListenableFuture<Item> timedOut = futures.createItem(create("gate", "order-a"));
    timedOut.cancel(true); // as a per-attempt timeout does
    ListenableFuture<Item> retry = futures.createItem(create("gate", "order-a"));

    service.gate.complete(null);

    assertThat(retry.get(TIMEOUT_S, TimeUnit.SECONDS).getValue()).isEqualTo("order-a");
    assertThat(service.executions("order-a")).isEqualTo(1);
  }

  @Test
  void responseHeadersAreReplayed() {
    Metadata.Key<String> served = Metadata.Key.of("served-by", Metadata.ASCII_STRING_MARSHALLER);
    ServerInterceptor stamp =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call, Metadata h, ServerCallHandler<ReqT, RespT> next) {
            return next.startCall(
                new io.grpc.ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                  @Override
                  public void sendHeaders(Metadata responseHeaders) {
                    responseHeaders.put(served, "execution");
                    super.sendHeaders(responseHeaders);
                  }
                },
                h);
          }
        };
    grpc.addService(service).addServerInterceptor(interceptor().build()).addServerInterceptor(stamp);
    for (int i = 0; i < 2; i++) {
      AtomicReference<Metadata> headers = new AtomicReference<>();
      AtomicReference<Metadata> trailers = new AtomicReference<>();
      stub("k1")
          .withInterceptors(MetadataUtils.newCaptureMetadataInterceptor(headers, trailers))
          .createItem(create("a", "order-a"));
      assertThat(headers.get().get(served)).isEqualTo("execution");
    }
    assertThat(service.executions("order-a")).isEqualTo(1);
  }

  @Test
  void aStoreThatFailsMakesTheRequestUnavailableWithoutExecutingIt() {
    IdempotencyStore broken =
        (key, hash) -> CompletableFuture.failedFuture(new IllegalStateException("store down"));
    serve(interceptor().store(broken).build());
    StatusRuntimeException error =
        catchThrowableOfType(
            StatusRuntimeException.class, () -> stub("k1").createItem(create("a", "order-a")));
    assertThat(error.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(error.getStatus().getDescription()).contains("store down");
    assertThat(service.executions("order-a")).isZero();
  }

  @Test
  void aStoreThatAnswersLaterResumesTheCallOnTheExecutor() throws Exception {
    CompletableFuture<Void> storeGate = new CompletableFuture<>();
    IdempotencyStore slow =
        (key, hash) -> storeGate.thenCompose(ignored -> store.begin(key, hash));
    serve(interceptor().store(slow).build());
    ListenableFuture<Item> call =
        ItemServiceGrpc.newFutureStub(keyed()).withOption(Keys.KEY, "k1")
            .createItem(create("a", "order-a"));
    assertThat(call.isDone()).isFalse();
    storeGate.complete(null);
    assertThat(call.get(TIMEOUT_S, TimeUnit.SECONDS).getValue()).isEqualTo("order-a");
    assertThat(stub("k1").createItem(create("a", "order-a"))).isEqualTo(call.get());
    assertThat(service.executions("order-a")).isEqualTo(1);
  }

  @Test
  void anUnknownCallerIsRefusedWithUnauthenticated() {
    Context.Key<String> user = Context.key("user");
    serve(
        IdempotencyInterceptor.newBuilder()
            .method(ItemServiceGrpc.getCreateItemMethod())
            .callerScope(CallerScope.fromContext(user, name -> name))
            .build());
    StatusRuntimeException error =
        catchThrowableOfType(
            StatusRuntimeException.class, () -> stub("k1").createItem(create("a", "order-a")));
    assertThat(error.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(service.executions("order-a")).isZero();
  }
}
