package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.UPLOAD;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.Item;
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

/** The per-call and interceptor-wide limits on what is kept for replay. */
class BufferLimitTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  private ClientCall<Item, UploadSummary> upload(
      Channel channel, RecordingListener<UploadSummary> listener) {
    ClientCall<Item, UploadSummary> call = channel.newCall(UPLOAD, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(1);
    return call;
  }

  @Test
  void aCallOverItsLimitIsCommittedAndNotRetried() throws Exception {
    RetryInterceptor retry =
        retryOn(clock).defaultPolicy(policy(3).build()).perCallBufferLimit(100).build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    faults.script(UPLOAD).then(Fault.delay(Duration.ofSeconds(1), Fault.fail(Status.UNAVAILABLE)));
    RecordingListener<UploadSummary> listener = new RecordingListener<>();
    ClientCall<Item, UploadSummary> call = upload(channel, listener);
    call.sendMessage(item("small", 10));
    assertThat(retry.bufferedBytes()).isPositive();
    call.sendMessage(item("big", 200));
    assertThat(retry.bufferedBytes()).isZero();
    call.halfClose();
    awaitTimers(clock, 1);
    clock.advance(Duration.ofSeconds(1));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription())
        .contains(
            "1 attempt; not retried because the request buffer limit was exceeded (per-call"
                + " limit of 100 bytes; raise it with RetryInterceptor.Builder.perCallBufferLimit)");
    assertThat(faults.attemptCount(UPLOAD)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void theInterceptorWideLimitCountsEveryCall() throws Exception {
    RetryInterceptor retry =
        retryOn(clock).defaultPolicy(policy(3).build()).totalBufferLimit(300).build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    faults.script(UPLOAD).then(Fault.hang(), 2);
    RecordingListener<UploadSummary> first = new RecordingListener<>();
    ClientCall<Item, UploadSummary> firstCall = upload(channel, first);
    firstCall.sendMessage(item("a", 200));
    long afterFirst = retry.bufferedBytes();
    assertThat(afterFirst).isGreaterThan(200);

    RecordingListener<UploadSummary> second = new RecordingListener<>();
    ClientCall<Item, UploadSummary> secondCall = upload(channel, second);
    secondCall.sendMessage(item("b", 200)); // would pass 300 bytes in all: this call stops recording
    assertThat(retry.bufferedBytes()).isEqualTo(afterFirst);

    firstCall.cancel("done", null);
    secondCall.cancel("done", null);
    first.awaitClose();
    second.awaitClose();
    assertThat(retry.bufferedBytes()).isZero();
  }

  @Test
  void overflowDuringBackoffGivesUpAtOnce() throws Exception {
    RetryInterceptor retry =
        retryOn(clock).defaultPolicy(policy(3).build()).perCallBufferLimit(100).build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    faults.script(UPLOAD).then(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    RecordingListener<UploadSummary> listener = new RecordingListener<>();
    ClientCall<Item, UploadSummary> call = upload(channel, listener);
    call.sendMessage(item("a", 10));
    awaitTimers(clock, 1);
    call.sendMessage(item("b", 200));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).startsWith("down [grpc-retry: 1 attempt;")
        .contains("request buffer limit was exceeded");
    assertThat(clock.pendingTaskCount()).isZero();
    assertThat(retry.bufferedBytes()).isZero();
    listener.assertContractKept();
  }

  @Test
  void bytesAreReleasedWhenCallsEnd() throws Exception {
    RetryInterceptor retry = retryOn(clock).defaultPolicy(policy(3).build()).build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    faults.script(UPLOAD).then(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<UploadSummary> listener = new RecordingListener<>();
    ClientCall<Item, UploadSummary> call = upload(channel, listener);
    call.sendMessage(item("a", 1000));
    call.halfClose();
    awaitTimers(clock, 1);
    assertThat(retry.bufferedBytes()).isGreaterThan(1000);
    clock.advance(Duration.ofMillis(100));
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(retry.bufferedBytes()).isZero();
  }

  @Test
  void limitsMustNotBeNegative() {
    assertThatThrownBy(() -> RetryInterceptor.newBuilder().perCallBufferLimit(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("perCallBufferLimit must be >= 0: -1");
    assertThatThrownBy(() -> RetryInterceptor.newBuilder().totalBufferLimit(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("totalBufferLimit must be >= 0: -1");
  }
}
