package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
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
import io.grpc.Status;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The per-attempt timeout under load: a timed-out attempt gives way only if another can start now,
 * and with {@code hedgeOnPerAttemptTimeout} it races its replacement. GetItem is side-effect free,
 * so the default classifier allows a retry after a timeout; the tests vary what else is needed.
 */
class PerAttemptTimeoutTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(2);

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  private Channel channel(RetryPolicy policy, RetryBudget budget) {
    return ClientInterceptors.intercept(
        grpc.channel(), retryOn(clock).retryBudget(budget).defaultPolicy(policy).build());
  }

  private static RecordingListener<Item> call(Channel channel, String id) {
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(2);
    call.sendMessage(get(id));
    call.halfClose();
    return listener;
  }

  @Test
  void aTimedOutAttemptIsKeptWhenTheBudgetRefusesItsReplacement() throws Exception {
    Fixtures.RecordingBudget budget = new Fixtures.RecordingBudget();
    budget.allow.set(false);
    faults.script(GET).then(Fault.delay(Duration.ofSeconds(5)));
    RecordingListener<Item> listener =
        call(channel(policy(3).perAttemptTimeout(TIMEOUT).build(), budget), "a");
    awaitTimers(clock, 2); // the server's delay and the per-attempt timer
    clock.advance(TIMEOUT);
    assertThat(faults.attempts(GET).get(0).outcome()).as("the attempt still runs").isNull();
    clock.advance(Duration.ofSeconds(3));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("a");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void aKeptAttemptThatFailsSaysTheBudgetWasEmpty() throws Exception {
    Fixtures.RecordingBudget budget = new Fixtures.RecordingBudget();
    budget.allow.set(false);
    faults
        .script(GET)
        .then(Fault.delay(Duration.ofSeconds(5), Fault.fail(Status.NOT_FOUND.withDescription("gone"))));
    RecordingListener<Item> listener =
        call(channel(policy(3).perAttemptTimeout(TIMEOUT).build(), budget), "a");
    awaitTimers(clock, 2);
    clock.advance(Duration.ofSeconds(5));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(status.getDescription())
        .startsWith(
            "gone [grpc-retry: 1 attempt; not retried because status NOT_FOUND is not"
                + " retryable; the per-attempt timeout (PT2S) of attempt 1 passed and it was kept"
                + " running because the retry budget refused another attempt (the budget given to"
                + " RetryInterceptor.Builder.retryBudget");
    listener.assertContractKept();
  }

  @Test
  void theReplacementIsGrantedWhenTheTimerFiresNotWhenTheSlowAttemptCloses() throws Exception {
    Fixtures.RecordingBudget budget = new Fixtures.RecordingBudget();
    faults.script(GET).then(Fault.hang()).then(Fault.pass());
    RecordingListener<Item> listener =
        call(channel(policy(3).perAttemptTimeout(TIMEOUT).build(), budget), "a");
    awaitTimers(clock, 1);
    clock.advance(TIMEOUT);
    assertThat(budget.acquired).containsExactly(RetryBudget.AttemptKind.AFTER_TIMEOUT);
    awaitTimers(clock, 1); // the backoff
    clock.advance(Duration.ofMillis(100));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.attempts(GET)).extracting(AttemptRecord::previousAttempts).containsExactly(0, 1);
    assertThat(faults.attempts(GET).get(0).outcome().getCode()).isEqualTo(Status.Code.CANCELLED);
    // The timed-out attempt failed (an overload signal); the replacement succeeded.
    assertThat(budget.outcomes())
        .containsExactly(RetryBudget.Outcome.RETRYABLE_FAILURE, RetryBudget.Outcome.SUCCESS);
    listener.assertContractKept();
  }

  @Test
  void aTimedOutAttemptIsKeptWhenNoAttemptIsLeft() throws Exception {
    faults.script(GET).then(Fault.delay(Duration.ofSeconds(5)));
    Fixtures.RecordingBudget budget = new Fixtures.RecordingBudget();
    RecordingListener<Item> listener =
        call(channel(policy(1).perAttemptTimeout(TIMEOUT).build(), budget), "a");
    awaitTimers(clock, 2);
    clock.advance(Duration.ofSeconds(5));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(budget.acquired).as("no grant asked for").isEmpty();
  }

  @Test
  void withHedgingOnTimeoutTheSlowAttemptCanStillWin() throws Exception {
    Fixtures.RecordingBudget budget = new Fixtures.RecordingBudget();
    faults.script(GET).then(Fault.delay(Duration.ofSeconds(3))).then(Fault.hang());
    RetryPolicy policy = policy(3).perAttemptTimeout(TIMEOUT).hedgeOnPerAttemptTimeout(true).build();
    RecordingListener<Item> listener = call(channel(policy, budget), "a");
    awaitTimers(clock, 2);
    clock.advance(TIMEOUT); // attempt 1 times out: not cancelled; attempt 2 after 100 ms
    clock.advance(Duration.ofMillis(100));
    assertThat(faults.awaitAttempts(GET, 2, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(GET).get(0).outcome()).as("attempt 1 still runs").isNull();
    clock.advance(Duration.ofMillis(900)); // attempt 1 answers at 3 s

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("a");
    assertThat(faults.awaitClosed(GET, 2, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(GET).get(1).outcome().getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(budget.acquired).containsExactly(RetryBudget.AttemptKind.AFTER_TIMEOUT);
    listener.assertContractKept();
  }

  @Test
  void withHedgingOnTimeoutTheNewAttemptCanWin() throws Exception {
    faults.script(GET).then(Fault.hang()).then(Fault.pass());
    RetryPolicy policy = policy(3).perAttemptTimeout(TIMEOUT).hedgeOnPerAttemptTimeout(true).build();
    RecordingListener<Item> listener = call(channel(policy, RetryBudget.unlimited()), "a");
    awaitTimers(clock, 1);
    clock.advance(TIMEOUT);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.awaitClosed(GET, 2, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(GET).get(0).outcome().getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(faults.attempts(GET).get(1).outcome().getCode()).isEqualTo(Status.Code.OK);
    listener.assertContractKept();
  }

  @Test
  void withHedgingOnTimeoutAFailureOfOneLeavesTheOtherRunning() throws Exception {
    // Attempt 2 fails at once with a retryable code while attempt 1, which timed out, still runs;
    // maxAttempts (2) is then reached, but attempt 1 may still answer, and does.
    faults
        .script(GET)
        .then(Fault.delay(Duration.ofSeconds(4)))
        .then(Fault.fail(Status.UNAVAILABLE.withDescription("second")));
    RetryPolicy policy = policy(2).perAttemptTimeout(TIMEOUT).hedgeOnPerAttemptTimeout(true).build();
    RecordingListener<Item> listener = call(channel(policy, RetryBudget.unlimited()), "a");
    awaitTimers(clock, 2);
    clock.advance(TIMEOUT);
    clock.advance(Duration.ofMillis(100));
    assertThat(faults.awaitClosed(GET, 1, Duration.ofSeconds(10))).isTrue();
    assertThat(listener.isClosed()).isFalse();
    clock.advance(Duration.ofMillis(1900));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    listener.assertContractKept();
  }

  @Test
  void withHedgingOnTimeoutBothFailingEndsWithTheLastAndWhy() throws Exception {
    faults
        .script(GET)
        .then(Fault.delay(Duration.ofSeconds(4), Fault.fail(Status.UNAVAILABLE.withDescription("first"))))
        .then(Fault.fail(Status.UNAVAILABLE.withDescription("second")));
    RetryPolicy policy = policy(2).perAttemptTimeout(TIMEOUT).hedgeOnPerAttemptTimeout(true).build();
    RecordingListener<Item> listener = call(channel(policy, RetryBudget.unlimited()), "a");
    awaitTimers(clock, 2);
    clock.advance(TIMEOUT);
    clock.advance(Duration.ofMillis(100));
    clock.advance(Duration.ofMillis(1900));

    // The call ends with the status of whichever attempt the client saw close last.
    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription())
        .isIn(
            "first [grpc-retry: 2 attempts (UNAVAILABLE, UNAVAILABLE); not retried because maxAttempts (2) reached]",
            "second [grpc-retry: 2 attempts (UNAVAILABLE, UNAVAILABLE); not retried because maxAttempts (2) reached]");
    assertThat(faults.attempts(GET))
        .extracting(attempt -> attempt.outcome().getCode())
        .containsExactly(Status.Code.UNAVAILABLE, Status.Code.UNAVAILABLE);
    listener.assertContractKept();
  }

  @Test
  void cancellingWhileBothRunCancelsBothAndClosesOnce() throws Exception {
    faults.script(GET).then(Fault.hang()).then(Fault.hang());
    RetryPolicy policy = policy(3).perAttemptTimeout(TIMEOUT).hedgeOnPerAttemptTimeout(true).build();
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call =
        channel(policy, RetryBudget.unlimited()).newCall(GET, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(2);
    call.sendMessage(get("a"));
    call.halfClose();
    awaitTimers(clock, 1);
    clock.advance(TIMEOUT);
    clock.advance(Duration.ofMillis(100));
    assertThat(faults.awaitAttempts(GET, 2, Duration.ofSeconds(10))).isTrue();
    call.cancel("stop", null);

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(status.getDescription()).isEqualTo("stop");
    assertThat(faults.awaitClosed(GET, 2, Duration.ofSeconds(10))).isTrue();
    assertThat(faults.attempts(GET))
        .extracting(attempt -> attempt.outcome().getCode())
        .containsOnly(Status.Code.CANCELLED);
    listener.assertContractKept();
  }

  @Test
  void hedgingOnTimeoutNeedsAPerAttemptTimeout() {
    assertThatThrownBy(() -> RetryPolicy.newBuilder().hedgeOnPerAttemptTimeout(true).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "hedgeOnPerAttemptTimeout needs a perAttemptTimeout: set one, or leave"
                + " hedgeOnPerAttemptTimeout false");
    String json =
        "{\"methodConfig\":[{\"name\":[{}],\"retryPolicy\":{\"maxAttempts\":2,"
            + "\"initialBackoff\":\"0.1s\",\"maxBackoff\":\"1s\",\"backoffMultiplier\":2,"
            + "\"retryableStatusCodes\":[\"UNAVAILABLE\"],\"hedgeOnPerAttemptTimeout\":true}}]}";
    assertThatThrownBy(() -> RetryInterceptor.newBuilder().serviceConfig(json))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "methodConfig[0].retryPolicy.hedgeOnPerAttemptTimeout: needs a perAttemptRecvTimeout in"
                + " the same retryPolicy, was true");
    RetryPolicy fromJson =
        ServiceConfigParser.parse(
                json.replace("\"hedgeOnPerAttemptTimeout\"", "\"perAttemptRecvTimeout\":\"2s\",\"hedgeOnPerAttemptTimeout\""),
                5)
            .defaultPolicy
            instanceof RetryPolicy p
            ? p
            : null;
    assertThat(fromJson)
        .isEqualTo(
            RetryPolicy.newBuilder()
                .maxAttempts(2)
                .initialBackoff(Duration.ofMillis(100))
                .maxBackoff(Duration.ofSeconds(1))
                .perAttemptTimeout(TIMEOUT)
                .hedgeOnPerAttemptTimeout(true)
                .build());
  }
}
