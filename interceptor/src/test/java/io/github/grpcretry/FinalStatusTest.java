package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

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
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What the application learns at the end: the attempts' codes, and how many attempts were made. */
class FinalStatusTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  /** Runs one GetItem, moving the clock on whenever a backoff waits, until it closes. */
  private RecordingListener<Item> run(RetryPolicy policy) throws Exception {
    Channel channel =
        ClientInterceptors.intercept(grpc.channel(), retryOn(clock).defaultPolicy(policy).build());
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(2);
    call.sendMessage(get("a"));
    call.halfClose();
    for (int i = 0; i < 100 && !listener.closesWithin(Duration.ofMillis(20)); i++) {
      clock.advance(Duration.ofSeconds(1));
    }
    listener.awaitClose();
    listener.assertContractKept();
    return listener;
  }

  @Test
  void aSuccessAfterRetriesCarriesTheAttemptCountInItsTrailers() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE), 2).then(Fault.pass());
    RecordingListener<Item> listener = run(policy(3).build());
    assertThat(listener.status().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.trailers().get(RetryInterceptor.ATTEMPTS_TRAILER)).isEqualTo("3");
  }

  @Test
  void aCallOfOneAttemptHasNoCount() throws Exception {
    RecordingListener<Item> listener = run(policy(3).build());
    assertThat(listener.status().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.trailers().containsKey(RetryInterceptor.ATTEMPTS_TRAILER)).isFalse();
  }

  @Test
  void aFailureNamesEveryEarlierAttemptsCodeIncludingTimeouts() throws Exception {
    faults
        .script(GET)
        .then(Fault.fail(Status.UNAVAILABLE.withDescription("first")))
        .then(Fault.hang())
        .then(Fault.fail(Status.UNAVAILABLE.withDescription("last")));
    RecordingListener<Item> listener =
        run(policy(3).perAttemptTimeout(Duration.ofMillis(500)).build());
    assertThat(listener.status().getDescription())
        .isEqualTo(
            "last [grpc-retry: 3 attempts (UNAVAILABLE, DEADLINE_EXCEEDED after per-attempt"
                + " timeout, UNAVAILABLE); not retried because maxAttempts (3) reached]");
    assertThat(listener.trailers().get(RetryInterceptor.ATTEMPTS_TRAILER)).isEqualTo("3");
  }

  @Test
  void aLongHistoryIsCutShort() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<Item> listener =
        run(policy(12).initialBackoff(Duration.ofMillis(1)).maxBackoff(Duration.ofMillis(1)).build());
    assertThat(listener.status().getDescription())
        .isEqualTo(
            "grpc-retry: 12 attempts (UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, ... 4"
                + " more, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE); not retried because"
                + " maxAttempts (12) reached");
  }
}
