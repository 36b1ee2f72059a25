package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.RetryListener.AttemptEnded;
import io.github.grpcretry.RetryListener.AttemptKind;
import io.github.grpcretry.RetryListener.AttemptStarted;
import io.github.grpcretry.RetryListener.CallClosed;
import io.github.grpcretry.RetryListener.CallCommitted;
import io.github.grpcretry.RetryListener.DelaySource;
import io.github.grpcretry.RetryListener.Refusal;
import io.github.grpcretry.RetryListener.RetryRefused;
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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What a RetryListener hears, through real calls with scripted faults. */
class RetryListenerTest {
  private static final String METHOD = "grpcretry.demo.v1.ItemService/GetItem";

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final Recorder events = new Recorder();

  /** Keeps every event, in order. */
  static final class Recorder implements RetryListener {
    final List<Object> all = new CopyOnWriteArrayList<>();

    @Override
    public void onAttemptStarted(AttemptStarted e) {
      all.add(e);
    }

    @Override
    public void onAttemptEnded(AttemptEnded e) {
      all.add(e);
    }

    @Override
    public void onCallCommitted(CallCommitted e) {
      all.add(e);
    }

    @Override
    public void onRetryRefused(RetryRefused e) {
      all.add(e);
    }

    @Override
    public void onCallClosed(CallClosed e) {
      all.add(e);
    }

    @Override
    public void onBreakerStateChanged(BreakerStateChanged e) {
      all.add(e);
    }

    @Override
    public void onBudgetExhausted(BudgetChanged e) {
      all.add("exhausted " + e.target());
    }

    @Override
    public void onBudgetRecovered(BudgetChanged e) {
      all.add("recovered " + e.target());
    }

    <T> List<T> of(Class<T> type) {
      List<T> found = new ArrayList<>();
      for (Object e : all) {
        if (type.isInstance(e)) {
          found.add(type.cast(e));
        }
      }
      return found;
    }
  }

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  private RecordingListener<Item> call(Channel channel) {
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(2);
    call.sendMessage(get("a"));
    call.halfClose();
    return listener;
  }

  // Regression (found by the stress harness, invariant LISTENER): a call whose policy makes one
  // attempt and has no per-attempt timeout was handed to the channel as it was, so a listener
  // (and the metrics built on one) never heard of it.
  @Test
  void aCallOfOneAttemptIsHeardToo() throws Exception {
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(), retryOn(clock).addListener(events).defaultPolicy(policy(1).build()).build());
    assertThat(call(channel).awaitClose().getCode()).isEqualTo(Status.Code.OK);

    assertThat(events.of(AttemptStarted.class)).hasSize(1);
    assertThat(events.of(AttemptEnded.class)).hasSize(1);
    assertThat(events.all.get(events.all.size() - 1)).isInstanceOf(CallClosed.class);
    CallClosed closed = events.of(CallClosed.class).get(0);
    assertThat(closed.status().getCode()).isEqualTo(Status.Code.OK);
    assertThat(closed.attempts()).isEqualTo(1);
  }

  @Test
  void aRetriedCallTellsEveryStepInOrder() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE.withDescription("down"))).then(Fault.pass());
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(), retryOn(clock).addListener(events).defaultPolicy(policy(3).build()).build());
    RecordingListener<Item> listener = call(channel);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);

    List<Object> all = events.all;
    assertThat(all).hasSize(6);
    assertThat(all.get(0))
        .isEqualTo(new AttemptStarted(METHOD, "localhost", 1, AttemptKind.FIRST, Duration.ZERO, DelaySource.NONE));
    AttemptEnded first = (AttemptEnded) all.get(1);
    assertThat(first.attemptNumber()).isEqualTo(1);
    assertThat(first.status().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(first.abandonedBecause()).isNull();
    assertThat(all.get(2))
        .isEqualTo(
            new AttemptStarted(
                METHOD, "localhost", 2, AttemptKind.RETRY, Duration.ofMillis(100), DelaySource.BACKOFF));
    assertThat(all.get(3)).isEqualTo(new CallCommitted(METHOD, "localhost", 2));
    assertThat(((AttemptEnded) all.get(4)).status().getCode()).isEqualTo(Status.Code.OK);
    CallClosed closed = (CallClosed) all.get(5);
    assertThat(closed.status().getCode()).isEqualTo(Status.Code.OK);
    assertThat(closed.attempts()).isEqualTo(2);
    assertThat(closed.hedges()).isZero();
    assertThat(closed.retryDelay()).as("the backoff on the manual clock").isEqualTo(Duration.ofMillis(100));
  }

  @Test
  void theServersDelayIsNamedAndARefusalSaysWhy() throws Exception {
    faults
        .script(GET)
        .then(Fault.fail(Status.UNAVAILABLE).withPushback(250))
        .then(Fault.fail(Status.UNAVAILABLE).withRetryInfo(Duration.ofMillis(300)))
        .then(Fault.fail(Status.UNAVAILABLE));
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(), retryOn(clock).addListener(events).defaultPolicy(policy(3).build()).build());
    RecordingListener<Item> listener = call(channel);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(250));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(300));
    listener.awaitClose();

    List<AttemptStarted> started = events.of(AttemptStarted.class);
    assertThat(started).extracting(AttemptStarted::delaySource)
        .containsExactly(DelaySource.NONE, DelaySource.PUSHBACK, DelaySource.RETRY_INFO);
    assertThat(started).extracting(AttemptStarted::delay)
        .containsExactly(Duration.ZERO, Duration.ofMillis(250), Duration.ofMillis(300));
    assertThat(events.of(RetryRefused.class))
        .containsExactly(
            new RetryRefused(METHOD, "localhost", 3, Refusal.MAX_ATTEMPTS, "maxAttempts (3) reached"));
    assertThat(events.of(CallClosed.class).get(0).retryDelay()).isEqualTo(Duration.ofMillis(550));
  }

  @Test
  void hedgesAndTheirLosersAreTold() throws Exception {
    faults.script(GET).then(Fault.hang()).then(Fault.pass());
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock)
                .addListener(events)
                .servicePolicy(
                    GET.getServiceName(),
                    HedgingPolicy.newBuilder().maxAttempts(2).hedgingDelay(Duration.ofMillis(10)).build())
                .build());
    RecordingListener<Item> listener = call(channel);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(10));
    listener.awaitClose();

    assertThat(events.of(AttemptStarted.class).get(1))
        .isEqualTo(
            new AttemptStarted(
                METHOD, "localhost", 2, AttemptKind.HEDGE, Duration.ofMillis(10), DelaySource.HEDGING_DELAY));
    AttemptEnded loser =
        events.of(AttemptEnded.class).stream().filter(e -> e.attemptNumber() == 1).findFirst().get();
    assertThat(loser.abandonedBecause()).isEqualTo("grpc-retry: another attempt won");
    CallClosed closed = events.of(CallClosed.class).get(0);
    assertThat(closed.attempts()).isEqualTo(2);
    assertThat(closed.hedges()).isEqualTo(1);
    assertThat(closed.retryDelay()).as("an attempt was always in flight").isZero();
  }

  @Test
  void aTimedOutAttemptIsToldAsAbandonedForItsTimeout() throws Exception {
    faults.script(GET).then(Fault.hang()).then(Fault.pass());
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock)
                .addListener(events)
                .defaultPolicy(policy(3).perAttemptTimeout(Duration.ofSeconds(1)).build())
                .build());
    RecordingListener<Item> listener = call(channel);
    awaitTimers(clock, 1);
    clock.advance(Duration.ofSeconds(1));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    listener.awaitClose();
    assertThat(faults.awaitClosed(GET, 2, Duration.ofSeconds(10))).isTrue();

    AttemptEnded first =
        events.of(AttemptEnded.class).stream().filter(e -> e.attemptNumber() == 1).findFirst().get();
    // Told the same whether its cancellation echo came before or after the second attempt won.
    assertThat(first.abandonedBecause())
        .isEqualTo("grpc-retry: per-attempt timeout of PT1S exceeded");
    // Until its cancellation came back: at its timeout, or after the clock moved on to the retry.
    assertThat(first.duration()).isBetween(Duration.ofSeconds(1), Duration.ofMillis(1100));
  }

  @Test
  void aBudgetRunningDryAndRecoveringIsToldOncePerChange() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    TokenBucketBudget budget = TokenBucketBudget.newBuilder().maxTokens(1).successCredit(1).build();
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock)
                .addListener(events)
                .retryBudget(budget)
                .defaultPolicy(policy(2).initialBackoff(Duration.ofMillis(1)).maxBackoff(Duration.ofMillis(1)).build())
                .build());
    for (int i = 0; i < 3; i++) {
      RecordingListener<Item> listener = call(channel);
      for (int step = 0; step < 50 && !listener.closesWithin(Duration.ofMillis(20)); step++) {
        clock.advance(Duration.ofMillis(1));
      }
      listener.awaitClose();
    }
    faults.reset();
    call(channel).awaitClose(); // a success refills the bucket
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE)).then(Fault.pass());
    RecordingListener<Item> last = call(channel);
    for (int step = 0; step < 50 && !last.closesWithin(Duration.ofMillis(20)); step++) {
      clock.advance(Duration.ofMillis(1));
    }
    last.awaitClose();

    List<Object> budgetEvents = new ArrayList<>();
    for (Object e : events.all) {
      if (e instanceof String) {
        budgetEvents.add(e);
      }
    }
    assertThat(budgetEvents).containsExactly("exhausted every target", "recovered every target");
    // The first call ran out of attempts; the next two of budget.
    assertThat(events.of(RetryRefused.class)).extracting(RetryRefused::reason)
        .containsExactly(Refusal.MAX_ATTEMPTS, Refusal.BUDGET, Refusal.BUDGET);
  }

  @Test
  void aBreakerThatOpensIsToldAndARefusedCallTooWithNoAttempt() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    RetryInterceptor retry =
        retryOn(clock)
            .addListener(events)
            .defaultPolicy(RetryPolicy.newBuilder().maxAttempts(1).perAttemptTimeout(Duration.ofDays(1)).build())
            .circuitBreakers(
                CircuitBreaker.classic().slidingWindowCalls(2).minimumCalls(2).failureRateThreshold(1).factory())
            .build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    call(channel).awaitClose();
    call(channel).awaitClose();
    call(channel).awaitClose();

    List<RetryListener.BreakerStateChanged> changes = events.of(RetryListener.BreakerStateChanged.class);
    assertThat(changes).hasSize(1);
    assertThat(changes.get(0).target()).isEqualTo("localhost");
    assertThat(changes.get(0).from()).isEqualTo(CircuitBreaker.State.CLOSED);
    assertThat(changes.get(0).to()).isEqualTo(CircuitBreaker.State.OPEN);
    assertThat(changes.get(0).description()).contains("2 of the last 2 attempts failed");
    // The first two calls ran out of attempts (one allowed); the breaker refused the third.
    assertThat(events.of(RetryRefused.class)).extracting(RetryRefused::reason)
        .containsExactly(Refusal.MAX_ATTEMPTS, Refusal.MAX_ATTEMPTS, Refusal.BREAKER);
    RetryRefused refused = events.of(RetryRefused.class).get(2);
    assertThat(refused.attemptNumber()).isZero();
    assertThat(events.of(CallClosed.class).get(2).attempts()).isZero();
  }

  @Test
  void aListenerThatThrowsIsLoggedOnceAndChangesNothing() throws Exception {
    List<LogRecord> logged = new CopyOnWriteArrayList<>();
    Handler handler = capture(logged);
    Logger logger = Logger.getLogger(RetryInterceptor.class.getName());
    logger.addHandler(handler);
    try {
      RetryListener broken =
          new RetryListener() {
            @Override
            public void onCallClosed(CallClosed event) {
              throw new IllegalStateException("listener bug");
            }
          };
      Channel channel =
          ClientInterceptors.intercept(
              grpc.channel(),
              retryOn(clock).addListener(broken).addListener(events).defaultPolicy(policy(3).build()).build());
      assertThat(call(channel).awaitClose().getCode()).isEqualTo(Status.Code.OK);
      assertThat(call(channel).awaitClose().getCode()).isEqualTo(Status.Code.OK);

      assertThat(events.of(CallClosed.class)).as("the next listener still hears").hasSize(2);
      assertThat(logged).filteredOn(r -> r.getLevel() == Level.WARNING).hasSize(1);
      assertThat(logged.get(0).getThrown()).hasMessage("listener bug");
    } finally {
      logger.removeHandler(handler);
    }
  }

  @Test
  void theLoggingListenerLogsRetriesFineAndADryBudgetOnceAsAWarning() throws Exception {
    List<LogRecord> logged = new CopyOnWriteArrayList<>();
    Handler handler = capture(logged);
    Logger logger = Logger.getLogger(RetryInterceptor.class.getName());
    Level before = logger.getLevel();
    logger.setLevel(Level.FINE);
    logger.addHandler(handler);
    try {
      faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
      Channel channel =
          ClientInterceptors.intercept(
              grpc.channel(),
              retryOn(clock)
                  .addListener(RetryListener.logging())
                  .retryBudget(TokenBucketBudget.newBuilder().maxTokens(1).successCredit(0).build())
                  .defaultPolicy(policy(2).initialBackoff(Duration.ofMillis(1)).maxBackoff(Duration.ofMillis(1)).build())
                  .build());
      for (int i = 0; i < 4; i++) {
        RecordingListener<Item> listener = call(channel);
        for (int step = 0; step < 50 && !listener.closesWithin(Duration.ofMillis(20)); step++) {
          clock.advance(Duration.ofMillis(1));
        }
        listener.awaitClose();
      }
      assertThat(logged)
          .filteredOn(r -> r.getLevel() == Level.FINE)
          .extracting(LogRecord::getMessage)
          .anyMatch(m -> m.contains(": attempt 2 (RETRY) after PT0.001S (BACKOFF)"));
      assertThat(logged)
          .filteredOn(r -> r.getLevel() == Level.WARNING)
          .extracting(LogRecord::getMessage)
          .containsExactly(
              "the retry budget of every target is empty: retries to it are refused until"
                  + " successes refill it (BudgetStats{tokens=0.000/1.000, granted=1, refused=1})");
    } finally {
      logger.removeHandler(handler);
      logger.setLevel(before);
    }
  }

  private static Handler capture(List<LogRecord> into) {
    Handler handler =
        new Handler() {
          @Override
          public void publish(LogRecord record) {
            into.add(record);
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    handler.setLevel(Level.ALL);
    return handler;
  }
}
