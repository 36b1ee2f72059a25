package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.CREATE;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.AttemptRecord;
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
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The client half of idempotency keys: one key per logical call, on every attempt and hedge, and
 * the method then counts as safe to repeat. CreateItem is not idempotent in its proto.
 */
class IdempotencyKeyTest {
  private static final Metadata.Key<String> KEY =
      Metadata.Key.of("idempotency-key", Metadata.ASCII_STRING_MARSHALLER);

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  private Channel channel(CallPolicy policy) {
    RetryInterceptor.Builder builder = retryOn(clock);
    if (policy instanceof RetryPolicy) {
      builder.defaultPolicy((RetryPolicy) policy);
    } else {
      builder.methodPolicy(CREATE.getFullMethodName(), (HedgingPolicy) policy);
    }
    return ClientInterceptors.intercept(grpc.channel(), builder.build());
  }

  private static RecordingListener<Item> create(Channel channel, CallOptions options, Metadata headers) {
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<CreateItemRequest, Item> call = channel.newCall(CREATE, options);
    call.start(listener, headers);
    call.request(2);
    call.sendMessage(CreateItemRequest.newBuilder().setItem(item("a")).build());
    call.halfClose();
    return listener;
  }

  private List<String> keysSeen() {
    return faults.attempts(CREATE).stream()
        .map(AttemptRecord::headers)
        .map(headers -> headers.get(KEY))
        .collect(Collectors.toList());
  }

  @Test
  void everyAttemptOfACallCarriesTheSameKeyAndEveryCallANewOne() throws Exception {
    faults.script(CREATE).then(Fault.fail(Status.UNAVAILABLE)).then(Fault.pass());
    Channel channel = channel(policy(3).idempotencyKey(true).build());
    RecordingListener<Item> first = create(channel, CallOptions.DEFAULT, new Metadata());
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    assertThat(first.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    RecordingListener<Item> second = create(channel, CallOptions.DEFAULT, new Metadata());
    assertThat(second.awaitClose().getCode()).isEqualTo(Status.Code.OK);

    List<String> keys = keysSeen();
    assertThat(keys).hasSize(3);
    assertThat(keys.get(0)).matches("[0-9a-f]{32}").isEqualTo(keys.get(1));
    assertThat(keys.get(2)).matches("[0-9a-f]{32}").isNotEqualTo(keys.get(0));
  }

  @Test
  void theApplicationCanGiveItsOwnKey() throws Exception {
    Channel channel = channel(policy(3).idempotencyKey(true).build());
    create(channel, CallOptions.DEFAULT.withOption(RetryInterceptor.IDEMPOTENCY_KEY, "order-17"),
            new Metadata())
        .awaitClose();
    Context.current()
        .withValue(RetryInterceptor.IDEMPOTENCY_KEY_CONTEXT, "order-18")
        .call(() -> create(channel, CallOptions.DEFAULT, new Metadata()))
        .awaitClose();
    Metadata own = new Metadata();
    own.put(KEY, "order-19");
    create(channel, CallOptions.DEFAULT, own).awaitClose();

    assertThat(keysSeen()).containsExactly("order-17", "order-18", "order-19");
  }

  @Test
  void aKeyThatIsNotPrintableAsciiIsRefusedAtStart() {
    Channel channel = channel(policy(3).idempotencyKey(true).build());
    ClientCall<CreateItemRequest, Item> call =
        channel.newCall(CREATE, CallOptions.DEFAULT.withOption(RetryInterceptor.IDEMPOTENCY_KEY, "a\nb"));
    assertThatThrownBy(() -> call.start(new RecordingListener<>(), new Metadata()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "the idempotency key from CallOptions (RetryInterceptor.IDEMPOTENCY_KEY) must be 1 to"
                + " 255 printable ASCII characters: \"a\nb\"");
    assertThat(faults.attemptCount(CREATE)).isZero();
  }

  @Test
  void withKeysAMethodThatIsNotIdempotentIsRetriedAfterAPerAttemptTimeout() throws Exception {
    faults.script(CREATE).then(Fault.hang()).then(Fault.pass());
    Channel channel =
        channel(policy(3).perAttemptTimeout(Duration.ofSeconds(2)).idempotencyKey(true).build());
    RecordingListener<Item> listener = create(channel, CallOptions.DEFAULT, new Metadata());
    awaitTimers(clock, 1);
    clock.advance(Duration.ofSeconds(2));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.attemptCount(CREATE)).isEqualTo(2);
    assertThat(keysSeen().get(0)).isEqualTo(keysSeen().get(1));
  }

  @Test
  void withKeysAMethodThatIsNotIdempotentMayBeHedged() throws Exception {
    faults.script(CREATE).then(Fault.hang()).then(Fault.pass());
    Channel channel =
        channel(
            HedgingPolicy.newBuilder()
                .maxAttempts(2)
                .hedgingDelay(Duration.ofMillis(50))
                .idempotencyKey(true)
                .build());
    RecordingListener<Item> listener = create(channel, CallOptions.DEFAULT, new Metadata());
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(50));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.awaitAttempts(CREATE, 2, Duration.ofSeconds(10))).isTrue();
    assertThat(keysSeen().get(0)).isEqualTo(keysSeen().get(1));
    // And by descriptor too, where an unsafe method without keys is refused at build.
    RetryInterceptor.newBuilder()
        .methodPolicy(CREATE, HedgingPolicy.newBuilder().idempotencyKey(true).build())
        .build();
  }

  @Test
  void aPolicyOfOneAttemptStillGivesCallsTheirKey() throws Exception {
    Channel channel = channel(RetryPolicy.newBuilder().maxAttempts(1).idempotencyKey(true).build());
    assertThat(
            ItemServiceGrpc.newBlockingStub(channel)
                .createItem(CreateItemRequest.newBuilder().setItem(item("a")).build()))
        .isNotNull();
    assertThat(keysSeen()).hasSize(1).allMatch(key -> key.matches("[0-9a-f]{32}"));
  }

  @Test
  void theHeaderCanBeRenamedAndBadNamesAreRefused() throws Exception {
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock)
                .idempotencyKeyHeader("x-request-key")
                .defaultPolicy(policy(2).idempotencyKey(true).build())
                .build());
    create(channel, CallOptions.DEFAULT, new Metadata()).awaitClose();
    Metadata.Key<String> renamed = Metadata.Key.of("x-request-key", Metadata.ASCII_STRING_MARSHALLER);
    assertThat(faults.attempts(CREATE).get(0).headers().get(renamed)).matches("[0-9a-f]{32}");
    assertThat(faults.attempts(CREATE).get(0).headers().containsKey(KEY)).isFalse();

    assertThatThrownBy(() -> RetryInterceptor.newBuilder().idempotencyKeyHeader("Key With Spaces"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "idempotencyKeyHeader must be a valid header name (lower case letters, digits, '-',"
                + " '_' and '.'): \"Key With Spaces\"");
    assertThatThrownBy(() -> RetryInterceptor.newBuilder().idempotencyKeyHeader("key-bin"))
        .hasMessage(
            "idempotencyKeyHeader must be an ASCII header name, not ending in -bin and not"
                + " starting with grpc-: \"key-bin\"");
    assertThatThrownBy(() -> RetryInterceptor.newBuilder().idempotencyKeyHeader("grpc-key"))
        .hasMessageContaining("not starting with grpc-");
  }

  @Test
  void policiesWithKeysSayItAndDiffer() {
    RetryPolicy with = policy(3).idempotencyKey(true).build();
    assertThat(with.idempotencyKey()).isTrue();
    assertThat(with).isNotEqualTo(policy(3).build());
    assertThat(with.toString()).endsWith(", idempotencyKey}");
    assertThat(with.toBuilder().build()).isEqualTo(with);
    HedgingPolicy hedging = HedgingPolicy.newBuilder().idempotencyKey(true).build();
    assertThat(hedging.toString()).endsWith(", idempotencyKey}");
    assertThat(hedging.toBuilder().build()).isEqualTo(hedging);
  }
}
