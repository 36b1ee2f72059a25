package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.CREATE;
import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.LIST;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.Fixtures.RecordingBudget;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.testing.AttemptRecord;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Hedged calls: winner selection, losers cancelled, non-fatal and fatal codes, budget, deadline. */
class HedgingTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final RecordingBudget budget = new RecordingBudget();

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  private static HedgingPolicy.Builder hedging(int attempts, long delayMillis) {
    return HedgingPolicy.newBuilder()
        .maxAttempts(attempts)
        .hedgingDelay(Duration.ofMillis(delayMillis))
        .nonFatalStatusCodes(Status.Code.UNAVAILABLE);
  }

  private Channel channel(HedgingPolicy policy) {
    return ClientInterceptors.intercept(
        grpc.channel(),
        retryOn(clock).methodPolicy(GET, policy).methodPolicy(LIST, policy).retryBudget(budget).build());
  }

  private static <ReqT, RespT> RecordingListener<RespT> call(
      Channel channel, MethodDescriptor<ReqT, RespT> method, CallOptions options, ReqT request) {
    RecordingListener<RespT> listener = new RecordingListener<>();
    ClientCall<ReqT, RespT> call = channel.newCall(method, options);
    call.start(listener, new Metadata());
    call.request(10);
    call.sendMessage(request);
    call.halfClose();
    return listener;
  }

  @Test
  void theFirstAttemptToAnswerWinsAndTheOthersAreCancelled() throws Exception {
    faults.script(GET).then(Fault.delay(Duration.ofSeconds(1))).then(Fault.pass());
    RecordingListener<Item> listener =
        call(channel(hedging(3, 100).build()), GET, CallOptions.DEFAULT, get("h"));
    awaitTimers(clock, 2); // the server's delay and the next hedge
    clock.advance(Duration.ofMillis(100)); // hedge 2 goes out and answers at once

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("h");
    assertThat(listener.events()).containsExactly("headers", "message", "close");
    assertThat(faults.awaitClosed(GET, 2, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(GET)).extracting(AttemptRecord::previousAttempts).containsExactly(0, 1);
    assertThat(faults.attempts(GET).get(0).outcome().getCode()).isEqualTo(Status.Code.CANCELLED);
    // No third hedge after the commit, and the first attempt's answer never comes.
    clock.advance(Duration.ofSeconds(5));
    assertThat(faults.attemptCount(GET)).isEqualTo(2);
    assertThat(budget.acquired).containsExactly(RetryBudget.AttemptKind.HEDGE);
    listener.assertContractKept();
  }

  @Test
  void aNonFatalFailureSendsTheNextHedgeAtOnce() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE)).then(Fault.pass());
    RecordingListener<Item> listener =
        call(channel(hedging(3, 10_000).build()), GET, CallOptions.DEFAULT, get("n"));
    // No time passes: the failure itself triggers the second attempt.
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.attemptCount(GET)).isEqualTo(2);
    assertThat(clock.nanoTime()).isZero();
    listener.assertContractKept();
  }

  @Test
  void aFatalFailureEndsTheCallAndCancelsTheOthers() throws Exception {
    faults
        .script(GET)
        .then(Fault.delay(Duration.ofSeconds(1)))
        .then(Fault.fail(Status.INVALID_ARGUMENT.withDescription("bad")));
    RecordingListener<Item> listener =
        call(channel(hedging(3, 100).build()), GET, CallOptions.DEFAULT, get("f"));
    awaitTimers(clock, 2);
    clock.advance(Duration.ofMillis(100));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(status.getDescription())
        .isEqualTo(
            "bad [grpc-retry: 2 attempts (INVALID_ARGUMENT); not retried because status INVALID_ARGUMENT is fatal"
                + " (not in nonFatalStatusCodes)]");
    assertThat(faults.awaitClosed(GET, 2, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(GET).get(0).outcome().getCode()).isEqualTo(Status.Code.CANCELLED);
    listener.assertContractKept();
  }

  @Test
  void whenEveryHedgeFailsTheCallEndsWithTheLastStatus() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    RecordingListener<Item> listener =
        call(channel(hedging(3, 100).build()), GET, CallOptions.DEFAULT, get("x"));
    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription())
        .isEqualTo("down [grpc-retry: 3 attempts (UNAVAILABLE, UNAVAILABLE, UNAVAILABLE); not retried because maxAttempts (3) reached]");
    assertThat(faults.attemptCount(GET)).isEqualTo(3);
    listener.assertContractKept();
  }

  @Test
  void pushbackSetsTheDelayOfTheNextHedgeOrStopsThem() throws Exception {
    faults
        .script(GET)
        .then(Fault.fail(Status.UNAVAILABLE).withPushback(700))
        .then(Fault.fail(Status.UNAVAILABLE).withPushback(-1));
    RecordingListener<Item> listener =
        call(channel(hedging(4, 100).build()), GET, CallOptions.DEFAULT, get("p"));
    // The server's 700 ms replaces the 100 ms hedging delay armed when the call started.
    Fixtures.awaitPendingDelays(clock, Duration.ofMillis(700));
    clock.advance(Duration.ofMillis(700));

    Status status = listener.awaitClose();
    assertThat(status.getDescription()).contains("2 attempts (UNAVAILABLE, UNAVAILABLE); not retried because the server asked not to retry");
    assertThat(faults.attemptCount(GET)).isEqualTo(2);
    assertThat(clock.pendingTaskCount()).isZero();
  }

  @Test
  void anExhaustedBudgetStopsHedging() throws Exception {
    budget.allow.set(false);
    faults.script(GET).then(Fault.delay(Duration.ofSeconds(1)));
    RecordingListener<Item> listener =
        call(channel(hedging(3, 100).build()), GET, CallOptions.DEFAULT, get("b"));
    awaitTimers(clock, 2);
    clock.advance(Duration.ofMillis(100)); // the hedge is refused
    clock.advance(Duration.ofMillis(900)); // the first attempt answers
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void noHedgeStartsAtOrAfterTheDeadline() throws Exception {
    // Every attempt answers after 24 s; the deadline is 25 s away and hedges go 10 s apart.
    faults.script(GET).otherwise(Fault.delay(Duration.ofSeconds(24)));
    CallOptions options = CallOptions.DEFAULT.withDeadline(clock.deadlineAfter(Duration.ofSeconds(25)));
    RecordingListener<Item> listener =
        call(channel(hedging(5, 10_000).build()), GET, options, get("d"));
    awaitTimers(clock, 2);
    clock.advance(Duration.ofSeconds(10));
    awaitTimers(clock, 3);
    clock.advance(Duration.ofSeconds(10));
    assertThat(faults.awaitAttempts(GET, 3, Duration.ofSeconds(10))).isTrue();
    // Hedges at 0, 10 and 20 s; none at 30 s, past the deadline: only the servers' delays wait.
    assertThat(clock.pendingDelays()).hasSize(3);
    clock.advance(Duration.ofSeconds(4)); // the first attempt answers at 24 s
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.attempts(GET)).extracting(AttemptRecord::startNanos)
        .containsExactly(0L, 10_000_000_000L, 20_000_000_000L);
  }

  @Test
  void aZeroDelaySendsEveryHedgeAtOnce() throws Exception {
    faults
        .script(GET)
        .then(Fault.delay(Duration.ofMillis(300)))
        .then(Fault.delay(Duration.ofMillis(100)))
        .then(Fault.delay(Duration.ofMillis(200)));
    RecordingListener<Item> listener =
        call(channel(hedging(3, 0).build()), GET, CallOptions.DEFAULT, get("z"));
    assertThat(faults.awaitAttempts(GET, 3, Duration.ofSeconds(10))).isTrue();
    awaitTimers(clock, 3);
    clock.advance(Duration.ofMillis(100));
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.awaitClosed(GET, 3, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(GET))
        .extracting(a -> a.outcome().getCode())
        .containsExactly(Status.Code.CANCELLED, Status.Code.OK, Status.Code.CANCELLED);
    listener.assertContractKept();
  }

  @Test
  void serverStreamsAreHedgedAndOnlyTheWinnersMessagesArrive() throws Exception {
    faults.script(LIST).then(Fault.delay(Duration.ofSeconds(1))).then(Fault.pass());
    RecordingListener<Item> listener =
        call(channel(hedging(2, 100).build()), LIST, CallOptions.DEFAULT,
            ListItemsRequest.newBuilder().setPrefix("s").setLimit(3).build());
    awaitTimers(clock, 2);
    clock.advance(Duration.ofMillis(100));
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    clock.advance(Duration.ofSeconds(2));
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("s-0", "s-1", "s-2");
    listener.assertContractKept();
  }

  @Test
  void cancellingAHedgedCallClosesOnceAfterEveryAttempt() throws Exception {
    faults.script(GET).otherwise(Fault.hang());
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call =
        channel(hedging(3, 0).build()).newCall(GET, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(1);
    call.sendMessage(get("c"));
    call.halfClose();
    assertThat(faults.awaitAttempts(GET, 3, Duration.ofSeconds(10))).isTrue();
    call.cancel("enough", null);
    assertThat(listener.awaitClose().getDescription()).isEqualTo("enough");
    assertThat(faults.awaitClosed(GET, 3, Duration.ofSeconds(10))).isTrue();
    listener.assertContractKept();
    assertThat(listener.events()).endsWith("close").containsOnlyOnce("close").doesNotContain("message");
  }

  @Test
  void hedgingAMethodThatIsNotSafeToRepeatIsAConfigurationError() {
    HedgingPolicy policy = hedging(2, 10).build();
    assertThatThrownBy(() -> RetryInterceptor.newBuilder().methodPolicy(CREATE, policy))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(
            "hedging policy for grpcretry.demo.v1.ItemService/CreateItem, which is not safe to"
                + " hedge: hedging sends the same request several times, so the method must be"
                + " marked idempotency_level = IDEMPOTENT or NO_SIDE_EFFECTS in its proto, or the"
                + " policy built with HedgingPolicy.Builder.idempotent(true)");
    Channel byName =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock).methodPolicy(CREATE.getFullMethodName(), policy).build());
    // By name, the descriptor is only known at call time: the call fails the way calls fail.
    for (int i = 0; i < 2; i++) {
      assertThatThrownBy(
              () ->
                  ItemServiceGrpc.newBlockingStub(byName)
                      .createItem(CreateItemRequest.newBuilder().setItem(item("c")).build()))
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
                assertThat(e.getStatus().getDescription())
                    .startsWith("grpc-retry: hedging policy for grpcretry.demo.v1.ItemService/CreateItem")
                    .contains("HedgingPolicy.Builder.idempotent(true)");
              });
    }
    assertThat(faults.attemptCount(CREATE)).isZero();
    // Declared safe by the policy: allowed.
    Channel declared =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock).methodPolicy(CREATE, policy.toBuilder().idempotent(true).build()).build());
    assertThat(
            ItemServiceGrpc.newBlockingStub(declared)
                .createItem(CreateItemRequest.newBuilder().setItem(item("c")).build())
                .getValue())
        .isEqualTo("v-c");
  }

  @Test
  void hedgingPolicyArgumentsAreChecked() {
    assertThatThrownBy(() -> HedgingPolicy.newBuilder().maxAttempts(0))
        .hasMessage("maxAttempts must be >= 1: 0");
    assertThatThrownBy(() -> HedgingPolicy.newBuilder().hedgingDelay(Duration.ofMillis(-1)))
        .hasMessage("hedgingDelay must be >= 0: PT-0.001S");
    assertThatThrownBy(() -> HedgingPolicy.newBuilder().nonFatalStatusCodes(Status.Code.OK))
        .hasMessage("nonFatalStatusCodes must not contain OK: [OK]");
    assertThat(HedgingPolicy.newBuilder().build().toString())
        .isEqualTo("HedgingPolicy{maxAttempts=3, hedgingDelay=PT0S, nonFatalStatusCodes=[]}");
  }
}
