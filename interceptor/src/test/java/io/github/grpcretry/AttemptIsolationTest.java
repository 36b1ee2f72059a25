package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.PUT;
import static io.github.grpcretry.Fixtures.SYNC;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What each attempt is given, and what of an attempt reaches the application. */
class AttemptIsolationTest {
  private static final Context.Key<String> TENANT = Context.key("tenant");

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final List<String> tenantPerAttempt = new CopyOnWriteArrayList<>();
  private RetryInterceptor retry;
  private Channel channel;

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    ClientInterceptor perAttempt =
        new ClientInterceptor() {
          @Override
          public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
              MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
            tenantPerAttempt.add(String.valueOf(TENANT.get()));
            return next.newCall(method, options);
          }
        };
    // No per-attempt timeout: its timer would be pending beside the backoff timers waited for.
    retry = retryOn(clock).defaultPolicy(policy(3).build()).build();
    channel = ClientInterceptors.intercept(ClientInterceptors.intercept(grpc.channel(), perAttempt), retry);
  }

  @Test
  void everyAttemptIsCreatedInTheContextOfTheCallersStart() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE), 2);
    RecordingListener<Item> listener = new RecordingListener<>();
    Context.current()
        .withValue(TENANT, "blue")
        .run(
            () -> {
              ClientCall<io.github.grpcretry.demo.v1.GetItemRequest, Item> call =
                  channel.newCall(GET, CallOptions.DEFAULT);
              call.start(listener, new Metadata());
              call.request(1);
              call.sendMessage(get("a"));
              call.halfClose();
            });
    // Retries start on the thread that moves the clock, outside the caller's Context.
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(200));
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(tenantPerAttempt).containsExactly("blue", "blue", "blue");
  }

  @Test
  void committingReleasesTheReplayBufferAndStopsRecording() throws Exception {
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<Item, Item> call = channel.newCall(SYNC, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(10);
    call.sendMessage(item("a", 500));
    // Until the first response, the message is kept for a replay (unless the echo already came).
    long beforeResponse = retry.bufferedBytes();
    assertThat(beforeResponse == 0 || beforeResponse > 500).isTrue();
    assertThat(faults.awaitAttempts(SYNC, 1, Duration.ofSeconds(10))).isTrue();
    listener.awaitMessages(1);
    assertThat(retry.bufferedBytes()).isZero();
    call.sendMessage(item("b", 500));
    assertThat(retry.bufferedBytes()).isZero();
    call.halfClose();
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("a", "b");
  }

  @Test
  void aTimedOutAttemptIsCancelledAndOnlyTheRetryAnswers() throws Exception {
    faults.script(PUT).then(Fault.delay(Duration.ofSeconds(30)));
    Channel timed =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock)
                .defaultPolicy(policy(3).perAttemptTimeout(Duration.ofSeconds(20)).build())
                .build());
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<PutItemRequest, Item> call = timed.newCall(PUT, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(5);
    call.sendMessage(PutItemRequest.newBuilder().setItem(item("p")).build());
    call.halfClose();
    awaitTimers(clock, 2); // the server's delay and the attempt's timeout
    clock.advance(Duration.ofSeconds(20)); // attempt 1 times out and is cancelled
    assertThat(faults.awaitClosed(PUT, 1, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(PUT).get(0).outcome().getCode()).isEqualTo(Status.Code.CANCELLED);
    awaitTimers(clock, 1);
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(100)); // the backoff
    clock.advance(Duration.ofMillis(100)); // attempt 2 answers at once
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    clock.advance(Duration.ofSeconds(30)); // past the time attempt 1 would have answered

    assertThat(listener.messages()).extracting(Item::getId).containsExactly("p");
    assertThat(listener.events()).containsSubsequence("headers", "message", "close");
    assertThat(listener.events().stream().filter("message"::equals)).hasSize(1);
    assertThat(faults.attemptCount(PUT)).isEqualTo(2);
    listener.assertContractKept();
  }
}
