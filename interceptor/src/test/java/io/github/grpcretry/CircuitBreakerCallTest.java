package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.LIST;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ListItemsRequest;
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
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The circuit breaker through real calls: asked before every attempt, told every result once,
 * a refused call ends at once without reaching the server.
 */
class CircuitBreakerCallTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  /** A breaker that answers as told and counts what it is asked and told. */
  static class CountingBreaker implements CircuitBreaker {
    final AtomicInteger permissions = new AtomicInteger();
    final AtomicInteger refusals = new AtomicInteger();
    final AtomicInteger successes = new AtomicInteger();
    final AtomicInteger failures = new AtomicInteger();
    final AtomicInteger ignored = new AtomicInteger();
    volatile int allow = Integer.MAX_VALUE;

    @Override
    public boolean tryAcquirePermission() {
      if (permissions.get() >= allow) {
        refusals.incrementAndGet();
        return false;
      }
      permissions.incrementAndGet();
      return true;
    }

    @Override
    public void onSuccess() {
      successes.incrementAndGet();
    }

    @Override
    public void onFailure() {
      failures.incrementAndGet();
    }

    @Override
    public void onIgnored() {
      ignored.incrementAndGet();
    }

    @Override
    public String describeRejection() {
      return "told to refuse after " + allow;
    }

    @Override
    public State state() {
      return State.CLOSED;
    }

    int results() {
      return successes.get() + failures.get() + ignored.get();
    }
  }

  private Channel channel(RetryInterceptor.Builder builder, CallPolicy policy) {
    if (policy instanceof RetryPolicy) {
      builder.defaultPolicy((RetryPolicy) policy);
    } else {
      builder.servicePolicy(GET.getServiceName(), (HedgingPolicy) policy);
    }
    return ClientInterceptors.intercept(grpc.channel(), builder.build());
  }

  private static RecordingListener<Item> call(Channel channel) {
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(2);
    call.sendMessage(get("a"));
    call.halfClose();
    return listener;
  }

  @Test
  void aCallThatTheBreakerRefusesEndsAtOnceWithoutReachingTheServer() throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    breaker.allow = 0;
    Fixtures.RecordingBudget budget = new Fixtures.RecordingBudget();
    Channel channel = channel(retryOn(clock).retryBudget(budget).circuitBreaker(breaker), policy(3).build());
    RecordingListener<Item> listener = call(channel);

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).isEqualTo("grpc-retry: not sent, told to refuse after 0");
    // The layer above is told not to retry it either (UpstreamPushbackInterceptor reads this).
    assertThat(listener.trailers().get(UpstreamPushbackInterceptor.GAVE_UP_KEY)).isEqualTo("breaker");
    assertThat(faults.attemptCount(GET)).isZero();
    assertThat(budget.acquired).as("costs no budget").isEmpty();
    assertThat(budget.outcomes()).isEmpty();
    listener.assertContractKept();
  }

  // Regression (found by the stress harness, invariant BREAKER_BALANCE): a call whose policy
  // makes one attempt and has no per-attempt timeout was handed to the channel as it was, so the
  // breaker was never asked: an open breaker let every such call through to a target it knew was
  // down, and never heard how they ended.
  @Test
  void aCallOfOneAttemptAsksTheBreakerToo() throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    breaker.allow = 0;
    Channel channel = channel(retryOn(clock).circuitBreaker(breaker), policy(1).build());

    Status status = call(channel).awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).isEqualTo("grpc-retry: not sent, told to refuse after 0");
    assertThat(faults.attemptCount(GET)).isZero();

    breaker.allow = Integer.MAX_VALUE;
    assertThat(call(channel).awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(breaker.permissions.get()).isEqualTo(1);
    assertThat(breaker.successes.get()).isEqualTo(1);
  }

  @Test
  void aMethodThatMakesOneAttemptStillAsksTheBreakerAndTellsIt() throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    breaker.allow = 1;
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    Channel channel = channel(retryOn(clock).circuitBreaker(breaker), RetryPolicy.noRetry());

    assertThat(call(channel).awaitClose().getDescription()).isEqualTo("down");
    assertThat(breaker.failures.get()).as("told of the one attempt").isEqualTo(1);
    Status refused = call(channel).awaitClose();
    assertThat(refused.getDescription()).isEqualTo("grpc-retry: not sent, told to refuse after 1");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
  }

  @Test
  void aRetryTheBreakerRefusesEndsTheCallWithTheLastStatusAndWhy() throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    breaker.allow = 1;
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    Fixtures.RecordingBudget budget = new Fixtures.RecordingBudget();
    Channel channel = channel(retryOn(clock).retryBudget(budget).circuitBreaker(breaker), policy(3).build());

    Status status = call(channel).awaitClose();
    assertThat(status.getDescription())
        .isEqualTo(
            "down [grpc-retry: 1 attempt; not retried because the circuit breaker refused"
                + " another attempt (told to refuse after 1)]");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(budget.acquired).as("asked after the breaker, so never").isEmpty();
    assertThat(breaker.failures.get()).isEqualTo(1);
  }

  @Test
  void everyPermittedAttemptIsReportedOnce() throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    Channel channel = channel(retryOn(clock).circuitBreaker(breaker), policy(3).build());
    // A success, a retried failure, a terminal answer of the application, a cancel in backoff.
    call(channel).awaitClose();
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE)).then(Fault.pass());
    RecordingListener<Item> retried = call(channel);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    retried.awaitClose();
    faults.reset();
    faults.script(GET).then(Fault.fail(Status.NOT_FOUND));
    call(channel).awaitClose();
    faults.reset();
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    RecordingListener<Item> cancelled = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.start(cancelled, new Metadata());
    call.request(1);
    call.sendMessage(get("b"));
    call.halfClose();
    awaitTimers(clock, 1);
    call.cancel("stop", null);
    cancelled.awaitClose();

    assertThat(breaker.permissions.get())
        .as("one per attempt: 1 + 2 + 1 + (1 sent, 1 granted for the retry after backoff)")
        .isEqualTo(6);
    assertThat(breaker.results()).isEqualTo(breaker.permissions.get());
    assertThat(breaker.successes.get()).as("OK, OK after retry, NOT_FOUND").isEqualTo(3);
    assertThat(breaker.failures.get()).as("the two UNAVAILABLE").isEqualTo(2);
    assertThat(breaker.ignored.get()).as("the retry never sent").isEqualTo(1);
  }

  @Test
  void hedgesAskTheBreakerAndTheLosersReportNothingAboutTheTarget() throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    faults.script(GET).then(Fault.hang()).then(Fault.pass());
    Channel channel =
        channel(
            retryOn(clock).circuitBreaker(breaker),
            HedgingPolicy.newBuilder().maxAttempts(2).hedgingDelay(Duration.ofMillis(10)).build());
    RecordingListener<Item> listener = call(channel);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(10));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.awaitClosed(GET, 2, Duration.ofSeconds(10))).isTrue();
    for (int i = 0; i < 1_000 && breaker.results() < 2; i++) {
      Thread.sleep(1); // the loser's close can come a moment after the call's
    }
    assertThat(breaker.permissions.get()).isEqualTo(2);
    assertThat(breaker.successes.get()).isEqualTo(1);
    assertThat(breaker.ignored.get()).isEqualTo(1);
  }

  /** A budget that throws from every tryAcquire: user code gone wrong. */
  static final class ThrowingBudget implements RetryBudget {
    @Override
    public boolean tryAcquire(AttemptKind kind) {
      throw new IllegalStateException("budget broken");
    }

    @Override
    public void recordOutcome(int attemptNumber, Outcome outcome) {}

    @Override
    public BudgetStats stats() {
      return RetryBudget.unlimited().stats();
    }
  }

  private static void awaitResults(CountingBreaker breaker) throws InterruptedException {
    for (int i = 0; i < 1_000 && breaker.results() < breaker.permissions.get(); i++) {
      Thread.sleep(1); // a loser's close can come a moment after the call's
    }
  }

  // Regression (found by the stress harness, invariant BREAKER_BALANCE): the breaker was asked
  // before the budget, and when the budget threw, the permission granted for the retry, hedge or
  // replacement it was asked for was never given back, so a classic breaker in half-open state
  // lost a probe for good.
  @Test
  void aPermissionIsGivenBackWhenTheBudgetThrowsForTheRetryItWasFor() throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    Channel channel =
        channel(
            retryOn(clock).retryBudget(new ThrowingBudget()).circuitBreaker(breaker),
            policy(3).build());

    Status status = call(channel).awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    awaitResults(breaker);
    assertThat(breaker.permissions.get()).as("the first attempt and the retry").isEqualTo(2);
    assertThat(breaker.failures.get()).as("the UNAVAILABLE").isEqualTo(1);
    assertThat(breaker.ignored.get()).as("the retry never sent").isEqualTo(1);
  }

  @Test
  void aPermissionIsGivenBackWhenTheBudgetThrowsForTheHedgeItWasFor() throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    faults.script(GET).then(Fault.hang()).then(Fault.pass());
    Channel channel =
        channel(
            retryOn(clock).retryBudget(new ThrowingBudget()).circuitBreaker(breaker),
            HedgingPolicy.newBuilder().maxAttempts(2).hedgingDelay(Duration.ofMillis(10)).build());
    RecordingListener<Item> listener = call(channel);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(10));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.INTERNAL);
    awaitResults(breaker);
    assertThat(breaker.permissions.get()).as("the first attempt and the hedge").isEqualTo(2);
    assertThat(breaker.results()).as("one report per permission").isEqualTo(2);
    assertThat(breaker.ignored.get()).isEqualTo(2);
  }

  @Test
  void aPermissionIsGivenBackWhenTheBudgetThrowsForTheReplacementOfATimedOutAttempt()
      throws Exception {
    CountingBreaker breaker = new CountingBreaker();
    faults.script(GET).otherwise(Fault.hang());
    Channel channel =
        channel(
            retryOn(clock).retryBudget(new ThrowingBudget()).circuitBreaker(breaker),
            policy(3).perAttemptTimeout(Duration.ofMillis(50)).build());
    RecordingListener<Item> listener = call(channel);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(50));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.INTERNAL);
    awaitResults(breaker);
    assertThat(breaker.permissions.get()).as("the first attempt and its replacement").isEqualTo(2);
    assertThat(breaker.results()).as("one report per permission").isEqualTo(2);
  }

  // Regression (found by the stress harness, invariant BREAKER_BALANCE): the permissions of
  // attempts that ended unheard of are given back together, and when the breaker threw on the
  // first of them, the rest were never given back.
  @Test
  void aBreakerThatThrowsWhenGivenBackAPermissionIsStillGivenBackTheOthers() throws Exception {
    CountingBreaker breaker =
        new CountingBreaker() {
          @Override
          public void onIgnored() {
            super.onIgnored();
            throw new IllegalStateException("breaker broken");
          }
        };
    Channel channel =
        channel(
            retryOn(clock).circuitBreaker(breaker),
            HedgingPolicy.newBuilder().maxAttempts(3).hedgingDelay(Duration.ofMillis(10)).build());
    // A unary call's attempts wait for the request to be complete before they start: with no
    // halfClose yet, the first attempt and both hedges are made (on a permission each) but none
    // is sent, and the cancel gives the three permissions back at once.
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(1);
    for (int hedge = 0; hedge < 2; hedge++) {
      awaitTimers(clock, 1);
      clock.advance(Duration.ofMillis(10));
    }
    assertThat(breaker.permissions.get()).as("the first attempt and two hedges").isEqualTo(3);
    call.cancel("stop", null);

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(faults.attemptCount(GET)).isZero();
    assertThat(breaker.ignored.get()).as("every permission given back").isEqualTo(3);
  }

  @Test
  void aClassicBreakerPerTargetOpensOnRealFailuresAndIgnoresTheApplicationsAnswers()
      throws Exception {
    faults.script(LIST).otherwise(Fault.fail(Status.INVALID_ARGUMENT));
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    RetryInterceptor retry =
        retryOn(clock)
            .defaultPolicy(
                RetryPolicy.newBuilder().maxAttempts(1).perAttemptTimeout(Duration.ofDays(1)).build())
            .circuitBreakers(
                CircuitBreaker.classic()
                    .slidingWindowCalls(5)
                    .minimumCalls(5)
                    .failureRateThreshold(1.0)
                    .openDuration(Duration.ofSeconds(30))
                    .factory())
            .build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    for (int i = 0; i < 10; i++) {
      RecordingListener<Item> listener = new RecordingListener<>();
      ClientCall<ListItemsRequest, Item> call = channel.newCall(LIST, CallOptions.DEFAULT);
      call.start(listener, new Metadata());
      call.request(1);
      call.sendMessage(ListItemsRequest.getDefaultInstance());
      call.halfClose();
      assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    }
    assertThat(retry.circuitBreaker("localhost").state()).isEqualTo(CircuitBreaker.State.CLOSED);
    for (int i = 0; i < 5; i++) {
      assertThat(call(channel).awaitClose().getDescription()).startsWith("down");
    }
    assertThat(retry.circuitBreaker("localhost").state()).isEqualTo(CircuitBreaker.State.OPEN);
    Status refused = call(channel).awaitClose();
    assertThat(refused.getDescription())
        .startsWith("grpc-retry: not sent, circuit open for localhost for another ")
        .endsWith("s: 5 of the last 5 attempts failed");
    assertThat(faults.attemptCount(GET)).isEqualTo(5);
  }
}
