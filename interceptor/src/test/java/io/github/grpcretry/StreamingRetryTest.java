package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.LIST;
import static io.github.grpcretry.Fixtures.SYNC;
import static io.github.grpcretry.Fixtures.UPLOAD;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Server streaming, client streaming and bidirectional calls: record, replay, commit. */
class StreamingRetryTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private Channel channel;

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    channel =
        ClientInterceptors.intercept(
            grpc.channel(), retryOn(clock).defaultPolicy(policy(3).build()).build());
  }

  @Test
  void serverStreamIsRetriedWhileNoMessageHasArrived() throws Exception {
    faults.script(LIST).then(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<ListItemsRequest, Item> call = channel.newCall(LIST, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(10);
    call.sendMessage(ListItemsRequest.newBuilder().setPrefix("p").setLimit(3).build());
    call.halfClose();

    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("p-0", "p-1", "p-2");
    assertThat(faults.attemptCount(LIST)).isEqualTo(2);
    assertThat(faults.attempts(LIST).get(1).requests())
        .containsExactly(ListItemsRequest.newBuilder().setPrefix("p").setLimit(3).build());
    listener.assertContractKept();
  }

  @Test
  void serverStreamThatDeliveredAMessageIsNeverReplayed() throws Exception {
    faults.script(LIST).then(Fault.failAfterMessages(2, Status.UNAVAILABLE));
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<ListItemsRequest, Item> call = channel.newCall(LIST, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(10);
    call.sendMessage(ListItemsRequest.newBuilder().setPrefix("p").setLimit(5).build());
    call.halfClose();

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    // Committed once the application saw a response: the server's status passes through as is.
    assertThat(String.valueOf(status.getDescription())).doesNotContain("grpc-retry");
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("p-0", "p-1");
    assertThat(faults.attemptCount(LIST)).isEqualTo(1);
    assertThat(clock.pendingTaskCount()).isZero();
    listener.assertContractKept();
  }

  @Test
  void clientStreamReplaysEveryMessageInOrder() throws Exception {
    faults.script(UPLOAD).then(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<UploadSummary> listener = new RecordingListener<>();
    ClientCall<Item, UploadSummary> call = channel.newCall(UPLOAD, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(1);
    call.sendMessage(item("a"));

    awaitTimers(clock, 1);
    // Sent during backoff: only recorded until the next attempt starts.
    assertThat(call.isReady()).isFalse();
    call.sendMessage(item("b"));
    clock.advance(Duration.ofMillis(100));
    // After the replay, straight through to the new attempt.
    call.sendMessage(item("c"));
    call.halfClose();

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    UploadSummary summary = listener.messages().get(0);
    assertThat(summary.getIdsList()).containsExactly("a", "b", "c");
    assertThat(faults.attempts(UPLOAD).get(1).requests()).containsExactly(item("a"), item("b"), item("c"));
    listener.assertContractKept();
  }

  @Test
  void isReadyIsFalseUntilTheReplayAndOnReadyFollowsIt() throws Exception {
    faults.script(UPLOAD).then(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<UploadSummary> listener = new RecordingListener<>();
    ClientCall<Item, UploadSummary> call = channel.newCall(UPLOAD, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(1);
    call.sendMessage(item("a"));
    awaitTimers(clock, 1);
    int readyBefore = listener.readyCount();
    assertThat(call.isReady()).isFalse();

    clock.advance(Duration.ofMillis(100));
    assertThat(faults.awaitAttempts(UPLOAD, 2, Duration.ofSeconds(10))).isTrue();

    assertThat(call.isReady()).isTrue();
    assertThat(listener.readyCount()).isGreaterThan(readyBefore);
    call.halfClose();
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    listener.assertContractKept();
  }

  @Test
  void bidiStreamIsRetriedBeforeItsFirstResponseAndCommittedAfter() throws Exception {
    faults
        .script(SYNC)
        .then(Fault.fail(Status.UNAVAILABLE))
        .then(Fault.failAfterMessages(1, Status.UNAVAILABLE));
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<Item, Item> call = channel.newCall(SYNC, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(5);
    call.sendMessage(item("a"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(listener.messages()).containsExactly(item("a"));
    assertThat(faults.attemptCount(SYNC)).isEqualTo(2);
    assertThat(clock.pendingTaskCount()).isZero();
    listener.assertContractKept();
  }

  @Test
  void messageCompressionAndRequestCountsAreReplayed() throws Exception {
    faults.script(LIST).then(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<ListItemsRequest, Item> call = channel.newCall(LIST, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.setMessageCompression(true);
    call.request(1);
    call.request(1);
    call.sendMessage(ListItemsRequest.newBuilder().setPrefix("p").setLimit(4).build());
    call.halfClose();
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));

    // Two messages requested in all: the second attempt delivers two, then waits for more demand.
    assertThat(faults.awaitAttempts(LIST, 2, Duration.ofSeconds(10))).isTrue();
    call.request(2);
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).hasSize(4);
    listener.assertContractKept();
  }
}
