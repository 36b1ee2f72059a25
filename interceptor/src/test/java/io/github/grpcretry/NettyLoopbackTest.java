package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.PUT;
import static io.github.grpcretry.Fixtures.UPLOAD;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.item;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.github.grpcretry.testing.AttemptRecord;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The same behaviour over a real HTTP/2 transport on loopback: trailers, deadlines and flow
 * control cross the wire. Time is real here, so backoffs are tiny and the tests assert on events,
 * never on durations.
 */
class NettyLoopbackTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final FaultInjector faults = FaultInjector.create();
  private Channel channel;

  @BeforeEach
  void setUp() throws Exception {
    Server server =
        grpc.register(
            NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(ServerInterceptors.intercept(new DemoItemService(), faults))
                .build()
                .start());
    ManagedChannel netty =
        grpc.register(
            NettyChannelBuilder.forAddress("127.0.0.1", server.getPort())
                .usePlaintext()
                .disableRetry()
                .build());
    RetryPolicy policy =
        RetryPolicy.newBuilder()
            .maxAttempts(4)
            .initialBackoff(Duration.ofMillis(1))
            .maxBackoff(Duration.ofMillis(5))
            .perAttemptTimeout(Duration.ofSeconds(1))
            .build();
    channel = ClientInterceptors.intercept(netty, RetryInterceptor.newBuilder().defaultPolicy(policy).build());
    // Connect before the test: a first attempt that spends its per-attempt timeout on connecting
    // would be retried, and the test would count one attempt more than it scripted.
    ItemServiceGrpc.newBlockingStub(netty).getItem(get("warm-up"));
    faults.reset();
  }

  @Test
  void unaryRetriesWithPushbackAcrossTheWire() {
    faults
        .script(GET)
        .then(Fault.fail(Status.UNAVAILABLE).withPushback(1))
        .then(Fault.fail(Status.UNAVAILABLE));
    Item item = ItemServiceGrpc.newBlockingStub(channel).getItem(get("n"));
    assertThat(item.getId()).isEqualTo("n");
    assertThat(faults.attempts(GET)).extracting(AttemptRecord::previousAttempts).containsExactly(0, 1, 2);
  }

  @Test
  void aTimedOutAttemptIsAbandonedAndRetried() {
    faults.script(PUT).then(Fault.hang());
    Item item =
        ItemServiceGrpc.newBlockingStub(channel)
            .putItem(PutItemRequest.newBuilder().setItem(item("p")).build());
    assertThat(item.getId()).isEqualTo("p");
    assertThat(faults.attemptCount(PUT)).isEqualTo(2);
  }

  @Test
  void largeClientStreamsAreReplayedInFull() throws Exception {
    faults.script(UPLOAD).then(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<UploadSummary> listener = new RecordingListener<>();
    ClientCall<Item, UploadSummary> call = channel.newCall(UPLOAD, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(1);
    for (int i = 0; i < 20; i++) {
      call.sendMessage(item("i" + i, 16 * 1024));
    }
    call.halfClose();
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    UploadSummary summary = listener.messages().get(0);
    assertThat(summary.getCount()).isEqualTo(20);
    assertThat(summary.getIdsList()).startsWith("i0", "i1").endsWith("i19");
    listener.assertContractKept();
  }
}
