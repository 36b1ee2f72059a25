package io.github.grpcretry.testing;

import static io.github.grpcretry.testing.TestObserver.REAL_TIMEOUT;
import static java.util.concurrent.TimeUnit.NANOSECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.protobuf.ByteString;
import com.google.rpc.RetryInfo;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall.SimpleForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class FaultInjectorTest {
  private static final MethodDescriptor<GetItemRequest, Item> GET_ITEM =
      ItemServiceGrpc.getGetItemMethod();
  private static final MethodDescriptor<PutItemRequest, Item> PUT_ITEM =
      ItemServiceGrpc.getPutItemMethod();
  private static final MethodDescriptor<CreateItemRequest, Item> CREATE_ITEM =
      ItemServiceGrpc.getCreateItemMethod();
  private static final MethodDescriptor<ListItemsRequest, Item> LIST_ITEMS =
      ItemServiceGrpc.getListItemsMethod();
  private static final MethodDescriptor<Item, UploadSummary> UPLOAD_ITEMS =
      ItemServiceGrpc.getUploadItemsMethod();
  private static final MethodDescriptor<Item, Item> SYNC_ITEMS =
      ItemServiceGrpc.getSyncItemsMethod();
  private static final Metadata.Key<String> PUSHBACK =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> PREVIOUS_ATTEMPTS =
      Metadata.Key.of("grpc-previous-rpc-attempts", Metadata.ASCII_STRING_MARSHALLER);

  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @RegisterExtension
  final GrpcServerExtension grpc =
      GrpcServerExtension.create().addService(new DemoItemService()).addServerInterceptor(faults);

  private ItemServiceGrpc.ItemServiceBlockingStub blocking() {
    return ItemServiceGrpc.newBlockingStub(grpc.channel());
  }

  private ItemServiceGrpc.ItemServiceFutureStub future() {
    return ItemServiceGrpc.newFutureStub(grpc.channel());
  }

  private ItemServiceGrpc.ItemServiceStub async() {
    return ItemServiceGrpc.newStub(grpc.channel());
  }

  private static GetItemRequest get(String id) {
    return GetItemRequest.newBuilder().setId(id).build();
  }

  private static Item item(String id, String value) {
    return Item.newBuilder().setId(id).setValue(value).build();
  }

  private static PutItemRequest put(String id, String value) {
    return PutItemRequest.newBuilder().setItem(item(id, value)).build();
  }

  private static StatusRuntimeException failure(Runnable call) {
    return catchThrowableOfType(StatusRuntimeException.class, call::run);
  }

  @Nested
  class Scripts {
    @Test
    void unscriptedMethodsPassThroughAndAreRecorded() {
      Item item = blocking().getItem(get("a"));

      assertThat(item.getValue()).isEqualTo("value-a");
      List<AttemptRecord> attempts = faults.attempts(GET_ITEM);
      assertThat(attempts).hasSize(1);
      AttemptRecord attempt = attempts.get(0);
      assertThat(attempt.fullMethodName()).isEqualTo("grpcretry.demo.v1.ItemService/GetItem");
      assertThat(attempt.fault()).isSameAs(Fault.pass());
      assertThat(attempt.requests()).containsExactly(get("a"));
      assertThat(attempt.outcome().getCode()).isEqualTo(Code.OK);
      assertThat(attempt.previousAttempts()).isZero();
      assertThat(attempt.startNanos()).isZero();
    }

    @Test
    void stepsAreTakenOnePerAttemptThenTheFallback() {
      faults
          .script(GET_ITEM)
          .then(Fault.fail(Status.UNAVAILABLE), 2)
          .then(Fault.fail(Status.ABORTED))
          .otherwise(Fault.fail(Status.RESOURCE_EXHAUSTED));

      List<Code> codes = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        codes.add(failure(() -> blocking().getItem(get("a"))).getStatus().getCode());
      }

      assertThat(codes)
          .containsExactly(
              Code.UNAVAILABLE,
              Code.UNAVAILABLE,
              Code.ABORTED,
              Code.RESOURCE_EXHAUSTED,
              Code.RESOURCE_EXHAUSTED);
      assertThat(faults.attemptCount(GET_ITEM)).isEqualTo(5);
    }

    @Test
    void defaultFallbackIsPass() {
      faults.script(GET_ITEM).then(Fault.fail(Status.UNAVAILABLE));

      assertThatThrownBy(() -> blocking().getItem(get("a")))
          .isInstanceOf(StatusRuntimeException.class);
      assertThat(blocking().getItem(get("a")).getValue()).isEqualTo("value-a");
    }

    @Test
    void scriptIsTheSameObjectForDescriptorAndName() {
      FaultInjector.MethodScript byDescriptor = faults.script(GET_ITEM);

      assertThat(faults.script(GET_ITEM.getFullMethodName())).isSameAs(byDescriptor);
      assertThat(byDescriptor.fullMethodName()).isEqualTo(GET_ITEM.getFullMethodName());
    }

    @Test
    void scriptsOnlyAffectTheirMethodAndRecordsKeepArrivalOrder() {
      faults.script(PUT_ITEM).then(Fault.fail(Status.UNAVAILABLE));

      blocking().getItem(get("a"));
      assertThatThrownBy(() -> blocking().putItem(put("b", "v")))
          .isInstanceOf(StatusRuntimeException.class);
      blocking().getItem(get("c"));

      assertThat(faults.attempts())
          .extracting(AttemptRecord::fullMethodName)
          .containsExactly(
              GET_ITEM.getFullMethodName(),
              PUT_ITEM.getFullMethodName(),
              GET_ITEM.getFullMethodName());
      assertThat(faults.attempts(GET_ITEM)).hasSize(2);
      assertThat(faults.attemptCount(PUT_ITEM)).isEqualTo(1);
    }

    @Test
    void resetForgetsRecordsAndEmptiesScriptsThatStayUsable() {
      FaultInjector.MethodScript script = faults.script(GET_ITEM);
      script.then(Fault.fail(Status.UNAVAILABLE), 3);
      assertThatThrownBy(() -> blocking().getItem(get("a")))
          .isInstanceOf(StatusRuntimeException.class);

      faults.reset();

      assertThat(faults.attempts()).isEmpty();
      assertThat(blocking().getItem(get("a")).getValue()).isEqualTo("value-a");
      script.then(Fault.fail(Status.ABORTED));
      assertThat(failure(() -> blocking().getItem(get("a"))).getStatus().getCode())
          .isEqualTo(Code.ABORTED);
      assertThat(faults.attemptCount(GET_ITEM)).isEqualTo(2);
    }

    @Test
    void recordsAreSnapshots() throws Exception {
      faults.script(GET_ITEM).then(Fault.hang());
      ListenableFuture<Item> call = future().getItem(get("a"));
      assertThat(faults.awaitAttempts(GET_ITEM, 1, REAL_TIMEOUT)).isTrue();
      AttemptRecord before = faults.attempts(GET_ITEM).get(0);

      call.cancel(true);

      assertThat(faults.awaitClosed(GET_ITEM, 1, REAL_TIMEOUT)).isTrue();
      assertThat(before.outcome()).isNull();
      assertThat(faults.attempts(GET_ITEM).get(0).outcome().getCode()).isEqualTo(Code.CANCELLED);
    }

    @Test
    void awaitReturnsFalseWhenTooFewAttempts() throws Exception {
      blocking().getItem(get("a"));

      assertThat(faults.awaitAttempts(GET_ITEM, 1, Duration.ZERO)).isTrue();
      assertThat(faults.awaitClosed(GET_ITEM, 1, Duration.ZERO)).isTrue();
      assertThat(faults.awaitAttempts(GET_ITEM, 2, Duration.ZERO)).isFalse();
      assertThat(faults.awaitClosed(PUT_ITEM, 1, Duration.ZERO)).isFalse();
    }
  }

  @Nested
  class Failures {
    @Test
    void failClosesAtOnceWithoutCallingTheService() {
      faults.script(PUT_ITEM).then(Fault.fail(Status.UNAVAILABLE.withDescription("down")));

      StatusRuntimeException e = failure(() -> blocking().putItem(put("a", "new")));

      assertThat(e.getStatus().getCode()).isEqualTo(Code.UNAVAILABLE);
      assertThat(e.getStatus().getDescription()).isEqualTo("down");
      assertThat(blocking().getItem(get("a")).getValue()).isEqualTo("value-a");
      assertThat(faults.attempts(PUT_ITEM).get(0).outcome().getCode()).isEqualTo(Code.UNAVAILABLE);
    }

    @Test
    void pushbackTrailerReachesTheClient() {
      faults
          .script(GET_ITEM)
          .then(Fault.fail(Status.UNAVAILABLE).withPushback(250))
          .then(Fault.fail(Status.UNAVAILABLE).withPushback(-1))
          .then(Fault.fail(Status.UNAVAILABLE).withPushback(5).withPushbackValue("soon"));

      List<String> values = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        Metadata trailers = failure(() -> blocking().getItem(get("a"))).getTrailers();
        values.add(String.join(",", trailers.getAll(PUSHBACK)));
      }

      assertThat(values).containsExactly("250", "-1", "soon");
    }

    @Test
    void customTrailersReachTheClient() {
      Metadata.Key<String> reason = Metadata.Key.of("x-reason", Metadata.ASCII_STRING_MARSHALLER);
      faults
          .script(GET_ITEM)
          .then(
              Fault.fail(Status.UNAVAILABLE)
                  .withTrailer(reason, "maintenance")
                  .withTrailer(reason, "again"));

      Metadata trailers = failure(() -> blocking().getItem(get("a"))).getTrailers();

      assertThat(trailers.getAll(reason)).containsExactly("maintenance", "again");
    }

    @Test
    void retryInfoIsReadableWithStatusProto() throws Exception {
      faults
          .script(GET_ITEM)
          .then(
              Fault.fail(Status.RESOURCE_EXHAUSTED.withDescription("slow down"))
                  .withPushback(10)
                  .withRetryInfo(Duration.ofMillis(1500)));

      StatusRuntimeException e = failure(() -> blocking().getItem(get("a")));
      com.google.rpc.Status details =
          StatusProto.fromStatusAndTrailers(e.getStatus(), e.getTrailers());

      assertThat(e.getStatus().getCode()).isEqualTo(Code.RESOURCE_EXHAUSTED);
      assertThat(details.getCode()).isEqualTo(Code.RESOURCE_EXHAUSTED.value());
      assertThat(details.getMessage()).isEqualTo("slow down");
      assertThat(details.getDetailsCount()).isEqualTo(1);
      RetryInfo retryInfo = details.getDetails(0).unpack(RetryInfo.class);
      assertThat(retryInfo.getRetryDelay().getSeconds()).isEqualTo(1);
      assertThat(retryInfo.getRetryDelay().getNanos()).isEqualTo(500_000_000);
      assertThat(e.getTrailers().get(PUSHBACK)).isEqualTo("10");
    }

    @Test
    void negativeRetryInfoKeepsSecondsAndNanosOfOneSign() throws Exception {
      faults
          .script(GET_ITEM)
          .then(Fault.fail(Status.UNAVAILABLE).withRetryInfo(Duration.ofMillis(-1500)));

      StatusRuntimeException e = failure(() -> blocking().getItem(get("a")));
      RetryInfo retryInfo =
          StatusProto.fromStatusAndTrailers(e.getStatus(), e.getTrailers())
              .getDetails(0)
              .unpack(RetryInfo.class);

      assertThat(retryInfo.getRetryDelay().getSeconds()).isEqualTo(-1);
      assertThat(retryInfo.getRetryDelay().getNanos()).isEqualTo(-500_000_000);
    }

    @Test
    void closeWithoutResponseEndsWithOkButNoMessage() {
      faults.script(GET_ITEM).then(Fault.closeWithoutResponse());
      faults.script(LIST_ITEMS).then(Fault.closeWithoutResponse());

      // The server side of grpc-java cancels a unary call that completes without a response.
      assertThat(failure(() -> blocking().getItem(get("a"))).getStatus().getCode())
          .isEqualTo(Code.CANCELLED);
      assertThat(blocking().listItems(ListItemsRequest.newBuilder().setPrefix("p").build()))
          .toIterable()
          .isEmpty();
      assertThat(faults.attempts(GET_ITEM).get(0).outcome().getCode()).isEqualTo(Code.OK);
    }

    @Test
    void hangNeverAnswersUntilTheClientCancels() throws Exception {
      faults.script(PUT_ITEM).then(Fault.hang());
      ListenableFuture<Item> call = future().putItem(put("a", "new"));
      assertThat(faults.awaitAttempts(PUT_ITEM, 1, REAL_TIMEOUT)).isTrue();

      assertThat(faults.awaitClosed(PUT_ITEM, 1, Duration.ZERO)).isFalse();
      assertThat(call).isNotDone();
      call.cancel(true);

      assertThat(faults.awaitClosed(PUT_ITEM, 1, REAL_TIMEOUT)).isTrue();
      AttemptRecord attempt = faults.attempts(PUT_ITEM).get(0);
      assertThat(attempt.outcome().getCode()).isEqualTo(Code.CANCELLED);
      assertThat(attempt.requests()).containsExactly(put("a", "new"));
      assertThat(blocking().getItem(get("a")).getValue()).isEqualTo("value-a");
    }

    @Test
    void hangEndsWhenTheClientDeadlinePasses() throws Exception {
      faults.script(GET_ITEM).then(Fault.hang());

      StatusRuntimeException e =
          failure(() -> blocking().withDeadlineAfter(100, TimeUnit.MILLISECONDS).getItem(get("a")));

      assertThat(e.getStatus().getCode()).isEqualTo(Code.DEADLINE_EXCEEDED);
      assertThat(faults.awaitClosed(GET_ITEM, 1, REAL_TIMEOUT)).isTrue();
      assertThat(faults.attempts(GET_ITEM).get(0).outcome().getCode()).isEqualTo(Code.CANCELLED);
    }
  }

  @Nested
  class Delays {
    @Test
    void delayAnswersOnlyWhenTheClockReachesIt() throws Exception {
      faults.script(GET_ITEM).then(Fault.delay(Duration.ofSeconds(1)));
      ListenableFuture<Item> call = future().getItem(get("a"));
      assertThat(clock.awaitPendingTasks(1, REAL_TIMEOUT)).isTrue();
      assertThat(clock.pendingDelays()).containsExactly(Duration.ofSeconds(1));

      clock.advance(Duration.ofSeconds(1).minusNanos(1));
      assertThat(call).isNotDone();
      assertThat(faults.attempts(GET_ITEM).get(0).outcome()).isNull();

      clock.advance(Duration.ofNanos(1));
      assertThat(call.get(REAL_TIMEOUT.toNanos(), NANOSECONDS).getValue()).isEqualTo("value-a");
      assertThat(faults.attempts(GET_ITEM).get(0).requests()).containsExactly(get("a"));
    }

    @Test
    void delayThenFail() throws Exception {
      faults
          .script(GET_ITEM)
          .then(Fault.delay(Duration.ofMillis(200), Fault.fail(Status.UNAVAILABLE)));
      ListenableFuture<Item> call = future().getItem(get("a"));
      assertThat(clock.awaitPendingTasks(1, REAL_TIMEOUT)).isTrue();

      clock.advanceToNextTask();

      Throwable e = catchThrowableOfType(Exception.class, () -> call.get(10, TimeUnit.SECONDS));
      assertThat(Status.fromThrowable(e).getCode()).isEqualTo(Code.UNAVAILABLE);
    }

    @Test
    void cancelDuringDelayAbandonsTheAttempt() throws Exception {
      faults.script(PUT_ITEM).then(Fault.delay(Duration.ofSeconds(5)));
      ListenableFuture<Item> call = future().putItem(put("a", "new"));
      assertThat(clock.awaitPendingTasks(1, REAL_TIMEOUT)).isTrue();

      call.cancel(true);

      assertThat(faults.awaitClosed(PUT_ITEM, 1, REAL_TIMEOUT)).isTrue();
      assertThat(faults.attempts(PUT_ITEM).get(0).outcome().getCode()).isEqualTo(Code.CANCELLED);
      assertThat(clock.pendingTaskCount()).isZero();
      clock.advance(Duration.ofSeconds(10));
      assertThat(blocking().getItem(get("a")).getValue()).isEqualTo("value-a");
    }

    @Test
    void clientStreamingRequestsSentDuringTheDelayReachTheService() throws Exception {
      faults.script(UPLOAD_ITEMS).then(Fault.delay(Duration.ofMillis(300)));
      TestObserver<UploadSummary> response = new TestObserver<>();
      StreamObserver<Item> requests = async().uploadItems(response);
      requests.onNext(item("a", "1"));
      requests.onNext(item("b", "2"));
      requests.onCompleted();
      assertThat(clock.awaitPendingTasks(1, REAL_TIMEOUT)).isTrue();
      assertThat(response.isDone()).isFalse();

      clock.advance(Duration.ofMillis(300));

      assertThat(response.awaitStatus().getCode()).isEqualTo(Code.OK);
      assertThat(response.values().get(0).getIdsList()).containsExactly("a", "b");
    }

    @Test
    void delayStampsAttemptsWithTheClock() throws Exception {
      clock.advance(Duration.ofSeconds(7));

      blocking().getItem(get("a"));

      assertThat(faults.attempts(GET_ITEM).get(0).startNanos())
          .isEqualTo(Duration.ofSeconds(7).toNanos());
    }

    @Test
    void delayWithoutAClockRunsInRealTime() throws Exception {
      FaultInjector realTime = FaultInjector.create();
      realTime.script(GET_ITEM).then(Fault.delay(Duration.ofMillis(20)));
      String name = InProcessServerBuilder.generateName();
      grpc.register(
          InProcessServerBuilder.forName(name)
              .directExecutor()
              .addService(ServerInterceptors.intercept(new DemoItemService(), realTime))
              .build()
              .start());
      ManagedChannel channel = grpc.register(InProcessChannelBuilder.forName(name).build());

      Item item = ItemServiceGrpc.newBlockingStub(channel).getItem(get("a"));

      assertThat(item.getValue()).isEqualTo("value-a");
      assertThat(realTime.attempts(GET_ITEM).get(0).fault()).hasToString("delay(PT0.02S, pass())");
    }
  }

  @Nested
  class CallTypes {
    @Test
    void failAfterMessagesCutsAServerStreamShort() {
      faults.script(LIST_ITEMS).then(Fault.failAfterMessages(2, Status.UNAVAILABLE));
      Iterator<Item> items =
          blocking().listItems(ListItemsRequest.newBuilder().setPrefix("p").setLimit(5).build());

      List<String> received = new ArrayList<>();
      StatusRuntimeException e =
          failure(
              () -> {
                while (items.hasNext()) {
                  received.add(items.next().getId());
                }
              });

      assertThat(received).containsExactly("p-0", "p-1");
      assertThat(e.getStatus().getCode()).isEqualTo(Code.UNAVAILABLE);
      assertThat(faults.attempts(LIST_ITEMS).get(0).outcome().getCode())
          .isEqualTo(Code.UNAVAILABLE);
    }

    @Test
    void failAfterMoreMessagesThanSentLetsTheServiceFinish() {
      faults.script(LIST_ITEMS).then(Fault.failAfterMessages(5, Status.UNAVAILABLE));

      Iterator<Item> items =
          blocking().listItems(ListItemsRequest.newBuilder().setPrefix("p").setLimit(2).build());

      assertThat(items).toIterable().extracting(Item::getId).containsExactly("p-0", "p-1");
    }

    @Test
    void failAfterZeroMessagesLosesTheResponseOfWorkDone() {
      faults.script(CREATE_ITEM).then(Fault.failAfterMessages(0, Status.UNAVAILABLE));

      StatusRuntimeException e =
          failure(
              () ->
                  blocking()
                      .createItem(
                          CreateItemRequest.newBuilder().setItem(item("", "created")).build()));

      assertThat(e.getStatus().getCode()).isEqualTo(Code.UNAVAILABLE);
      assertThat(blocking().getItem(get("item-1")).getValue()).isEqualTo("created");
    }

    @Test
    void failAfterZeroMessagesLosesTheResponseHeadersToo() throws Exception {
      faults.script(CREATE_ITEM).then(Fault.failAfterMessages(0, Status.UNAVAILABLE));
      TestObserver<Item> responses = new TestObserver<>();
      AtomicReference<Metadata> headers = new AtomicReference<>();
      AtomicReference<Metadata> trailers = new AtomicReference<>();

      ItemServiceGrpc.newStub(grpc.channel())
          .withInterceptors(MetadataUtils.newCaptureMetadataInterceptor(headers, trailers))
          .createItem(CreateItemRequest.newBuilder().setItem(item("", "created")).build(), responses);

      assertThat(responses.awaitStatus().getCode()).isEqualTo(Code.UNAVAILABLE);
      assertThat(headers.get()).isNull();
    }

    @Test
    void failAfterMessagesOnABidiStream() throws Exception {
      faults.script(SYNC_ITEMS).then(Fault.failAfterMessages(1, Status.ABORTED));
      TestObserver<Item> responses = new TestObserver<>();
      StreamObserver<Item> requests = async().syncItems(responses);

      requests.onNext(item("a", "1"));

      assertThat(responses.awaitStatus().getCode()).isEqualTo(Code.ABORTED);
      assertThat(responses.values()).containsExactly(item("a", "1"));
      requests.onCompleted();
    }

    @Test
    void bidiPassesThroughAndRecordsRequests() throws Exception {
      TestObserver<Item> responses = new TestObserver<>();
      StreamObserver<Item> requests = async().syncItems(responses);

      requests.onNext(item("a", "1"));
      requests.onNext(item("b", "2"));
      requests.onCompleted();

      assertThat(responses.awaitStatus().getCode()).isEqualTo(Code.OK);
      assertThat(responses.values()).containsExactly(item("a", "1"), item("b", "2"));
      assertThat(faults.awaitClosed(SYNC_ITEMS, 1, REAL_TIMEOUT)).isTrue();
      assertThat(faults.attempts(SYNC_ITEMS).get(0).requests())
          .containsExactly(item("a", "1"), item("b", "2"));
    }

    @Test
    void bidiFailsAtStart() throws Exception {
      faults.script(SYNC_ITEMS).then(Fault.fail(Status.UNAVAILABLE));
      TestObserver<Item> responses = new TestObserver<>();

      StreamObserver<Item> requests = async().syncItems(responses);
      requests.onNext(item("a", "1"));
      requests.onCompleted();

      assertThat(responses.awaitStatus().getCode()).isEqualTo(Code.UNAVAILABLE);
      assertThat(responses.values()).isEmpty();
    }

    @Test
    void clientStreamingFailsAndPasses() throws Exception {
      faults.script(UPLOAD_ITEMS).then(Fault.fail(Status.UNAVAILABLE).withPushback(30));

      TestObserver<UploadSummary> failed = new TestObserver<>();
      StreamObserver<Item> first = async().uploadItems(failed);
      first.onNext(item("a", "1"));
      first.onCompleted();
      TestObserver<UploadSummary> passed = new TestObserver<>();
      StreamObserver<Item> second = async().uploadItems(passed);
      second.onNext(item("a", "1").toBuilder().setPayload(ByteString.copyFromUtf8("abc")).build());
      second.onCompleted();

      assertThat(failed.awaitStatus().getCode()).isEqualTo(Code.UNAVAILABLE);
      assertThat(failed.trailers().get(PUSHBACK)).isEqualTo("30");
      assertThat(passed.awaitStatus().getCode()).isEqualTo(Code.OK);
      assertThat(passed.values().get(0).getBytes()).isEqualTo(3);
      assertThat(faults.awaitClosed(UPLOAD_ITEMS, 2, REAL_TIMEOUT)).isTrue();
      assertThat(faults.attempts(UPLOAD_ITEMS).get(1).requests()).hasSize(1);
    }

    @Test
    void serverStreamingFailsAtStart() {
      faults.script(LIST_ITEMS).then(Fault.fail(Status.UNAVAILABLE));

      StatusRuntimeException e =
          failure(() -> blocking().listItems(ListItemsRequest.getDefaultInstance()).hasNext());

      assertThat(e.getStatus().getCode()).isEqualTo(Code.UNAVAILABLE);
    }
  }

  @Nested
  class Randomness {
    private List<Code> runTwenty(Fault fault) {
      faults.reset();
      faults.script(GET_ITEM).otherwise(fault);
      List<Code> codes = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        try {
          blocking().getItem(get("a"));
          codes.add(Code.OK);
        } catch (StatusRuntimeException e) {
          codes.add(e.getStatus().getCode());
        }
      }
      return codes;
    }

    @Test
    void sameSeedGivesTheSameSequence() {
      List<Code> first = runTwenty(Fault.randomly(0.5, 42, Fault.fail(Status.UNAVAILABLE)));
      List<Code> second = runTwenty(Fault.randomly(0.5, 42, Fault.fail(Status.UNAVAILABLE)));

      Random expected = new Random(42);
      List<Code> drawn = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        drawn.add(expected.nextDouble() < 0.5 ? Code.UNAVAILABLE : Code.OK);
      }
      assertThat(first).isEqualTo(drawn).isEqualTo(second).contains(Code.OK, Code.UNAVAILABLE);
    }

    @Test
    void recordsTheFaultThatWasDrawn() {
      Fault unavailable = Fault.fail(Status.UNAVAILABLE);
      List<Code> codes = runTwenty(Fault.randomly(0.5, 7, unavailable));

      List<AttemptRecord> attempts = faults.attempts(GET_ITEM);
      for (int i = 0; i < codes.size(); i++) {
        assertThat(attempts.get(i).fault())
            .isSameAs(codes.get(i) == Code.OK ? Fault.pass() : unavailable);
      }
    }

    @Test
    void probabilityZeroAndOne() {
      assertThat(runTwenty(Fault.randomly(0, 1, Fault.fail(Status.UNAVAILABLE))))
          .containsOnly(Code.OK);
      assertThat(runTwenty(Fault.randomly(1, 1, Fault.fail(Status.UNAVAILABLE))))
          .containsOnly(Code.UNAVAILABLE);
    }
  }

  @Nested
  class Headers {
    private Channel withPreviousAttempts(String value) {
      ClientInterceptor header =
          new ClientInterceptor() {
            @Override
            public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
                MethodDescriptor<ReqT, RespT> method, CallOptions callOptions, Channel next) {
              return new SimpleForwardingClientCall<>(next.newCall(method, callOptions)) {
                @Override
                public void start(Listener<RespT> listener, Metadata headers) {
                  headers.put(PREVIOUS_ATTEMPTS, value);
                  super.start(listener, headers);
                }
              };
            }
          };
      return ClientInterceptors.intercept(grpc.channel(), header);
    }

    @Test
    void recordsPreviousAttemptsSentByTheClient() {
      ItemServiceGrpc.newBlockingStub(withPreviousAttempts("2")).getItem(get("a"));

      AttemptRecord attempt = faults.attempts(GET_ITEM).get(0);
      assertThat(attempt.previousAttempts()).isEqualTo(2);
      assertThat(attempt.headers().get(PREVIOUS_ATTEMPTS)).isEqualTo("2");
    }

    @Test
    void malformedPreviousAttemptsIsMinusOne() {
      ItemServiceGrpc.newBlockingStub(withPreviousAttempts("+1")).getItem(get("a"));
      ItemServiceGrpc.newBlockingStub(withPreviousAttempts("many")).getItem(get("a"));

      assertThat(faults.attempts(GET_ITEM))
          .extracting(AttemptRecord::previousAttempts)
          .containsExactly(-1, -1);
    }

    @Test
    void headersAreACopy() {
      blocking().getItem(get("a"));
      AttemptRecord attempt = faults.attempts(GET_ITEM).get(0);

      attempt.headers().put(PREVIOUS_ATTEMPTS, "9");

      assertThat(attempt.headers().get(PREVIOUS_ATTEMPTS)).isNull();
    }
  }

  @Nested
  class Validation {
    @Test
    void faultFactoriesRejectBadArguments() {
      assertThatThrownBy(() -> Fault.failAfterMessages(-1, Status.UNAVAILABLE))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("n must be >= 0: -1");
      assertThatThrownBy(() -> Fault.randomly(1.5, 0, Fault.pass()))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("probability must be between 0 and 1 inclusive: 1.5");
      assertThatThrownBy(() -> Fault.randomly(Double.NaN, 0, Fault.pass()))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("probability must be between 0 and 1 inclusive: NaN");
      assertThatThrownBy(() -> Fault.delay(Duration.ofSeconds(-1)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("delay must be >= 0: PT-1S");
      assertThatThrownBy(() -> Fault.fail(Status.OK))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("status must not be OK");
    }

    @Test
    void nullsNameTheParameter() {
      assertThatThrownBy(() -> Fault.fail(null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("status must not be null");
      assertThatThrownBy(() -> Fault.delay(Duration.ZERO, null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("then must not be null");
      assertThatThrownBy(() -> faults.script((MethodDescriptor<?, ?>) null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("method must not be null");
      assertThatThrownBy(() -> faults.script(GET_ITEM).then(null))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("fault must not be null");
    }

    @Test
    void trailersOnlyForFail() {
      assertThatThrownBy(() -> Fault.hang().withPushback(1))
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("withPushback applies only to Fault.fail(...), not to hang()");
      assertThatThrownBy(() -> Fault.fail(Status.UNAVAILABLE).withPushbackValue("a\nb"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("raw must be printable ASCII");
    }

    @Test
    void scriptRejectsBadTimesAndNames() {
      assertThatThrownBy(() -> faults.script(GET_ITEM).then(Fault.pass(), -1))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("times must be >= 0: -1");
      assertThatThrownBy(() -> faults.script("GetItem"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("fullMethodName must look like \"package.Service/Method\": \"GetItem\"");
      assertThatThrownBy(() -> faults.awaitAttempts(GET_ITEM, -1, REAL_TIMEOUT))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("count must be >= 0: -1");
    }

    @Test
    void faultsDescribeThemselves() {
      assertThat(Fault.pass()).hasToString("pass()");
      assertThat(Fault.hang()).hasToString("hang()");
      assertThat(Fault.closeWithoutResponse()).hasToString("closeWithoutResponse()");
      assertThat(Fault.failAfterMessages(2, Status.ABORTED))
          .hasToString("failAfterMessages(2, ABORTED)");
      assertThat(Fault.delay(Duration.ofSeconds(1), Fault.fail(Status.UNAVAILABLE)))
          .hasToString("delay(PT1S, fail(UNAVAILABLE))");
      assertThat(Fault.randomly(0.25, 9, Fault.hang())).hasToString("randomly(0.25, 9, hang())");
      assertThat(
              Fault.fail(Status.UNAVAILABLE.withDescription("down"))
                  .withPushback(100)
                  .withRetryInfo(Duration.ofSeconds(2)))
          .hasToString(
              "fail(UNAVAILABLE: down).withTrailers(Metadata(grpc-retry-pushback-ms=100))"
                  + ".withRetryInfo(PT2S)");
    }
  }
}
