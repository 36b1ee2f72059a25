package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import io.github.grpcretry.Fixtures.RecordingBudget;
import io.github.grpcretry.RetryBudget.Outcome;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
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
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Unary calls through a real in-process server that fails on a script. */
class UnaryRetryTest {
  private static final Metadata.Key<String> TRACE =
      Metadata.Key.of("x-trace", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> BELOW =
      Metadata.Key.of("x-below", Metadata.ASCII_STRING_MARSHALLER);

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final RecordingBudget budget = new RecordingBudget();

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  private Channel channel(RetryPolicy policy) {
    return ClientInterceptors.intercept(
        grpc.channel(), retryOn(clock).defaultPolicy(policy).retryBudget(budget).build());
  }

  private static Item await(ListenableFuture<Item> future) throws Exception {
    return future.get(10, TimeUnit.SECONDS);
  }

  private static StatusRuntimeException awaitFailure(ListenableFuture<Item> future)
      throws Exception {
    try {
      future.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).isInstanceOf(StatusRuntimeException.class);
      return (StatusRuntimeException) e.getCause();
    }
    throw new AssertionError("the call succeeded");
  }

  @Test
  void retriesUnavailableWithExponentialBackoffUntilSuccess() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE), 2);
    ListenableFuture<Item> future =
        ItemServiceGrpc.newFutureStub(channel(policy(4).build())).getItem(get("a"));

    awaitTimers(clock, 1);
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(100));
    clock.advance(Duration.ofMillis(100));
    awaitTimers(clock, 1);
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(200));
    clock.advance(Duration.ofMillis(200));

    assertThat(await(future).getId()).isEqualTo("a");
    assertThat(faults.attempts(GET))
        .extracting(AttemptRecord::previousAttempts)
        .containsExactly(0, 1, 2);
    assertThat(faults.attempts(GET))
        .extracting(AttemptRecord::startNanos)
        .containsExactly(0L, 100_000_000L, 300_000_000L);
    assertThat(budget.outcomes())
        .containsExactly(Outcome.RETRYABLE_FAILURE, Outcome.RETRYABLE_FAILURE, Outcome.SUCCESS);
    assertThat(budget.acquired).hasSize(2);
  }

  @Test
  void doesNotRetryBeforeTheBackoffHasElapsed() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE));
    ListenableFuture<Item> future =
        ItemServiceGrpc.newFutureStub(channel(policy(2).build())).getItem(get("a"));
    awaitTimers(clock, 1);

    clock.advance(Duration.ofMillis(99));
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofMillis(1));
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(future.isDone()).isFalse();

    clock.advance(Duration.ofMillis(1));
    assertThat(await(future).getId()).isEqualTo("a");
    assertThat(faults.attemptCount(GET)).isEqualTo(2);
  }

  @Test
  void givesUpAfterMaxAttemptsKeepingTheLastStatusAndTrailers() throws Exception {
    Metadata.Key<String> marker = Metadata.Key.of("x-fault", Metadata.ASCII_STRING_MARSHALLER);
    faults
        .script(GET)
        .otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")).withTrailer(marker, "1"));
    ListenableFuture<Item> future =
        ItemServiceGrpc.newFutureStub(channel(policy(3).build())).getItem(get("a"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(200));

    StatusRuntimeException failure = awaitFailure(future);
    assertThat(failure.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(failure.getStatus().getDescription())
        .isEqualTo("down [grpc-retry: 3 attempts (UNAVAILABLE, UNAVAILABLE, UNAVAILABLE); not retried because maxAttempts (3) reached]");
    assertThat(failure.getTrailers().get(marker)).isEqualTo("1");
    assertThat(faults.attemptCount(GET)).isEqualTo(3);
    assertThat(clock.pendingTaskCount()).isZero();
  }

  @Test
  void doesNotRetryATerminalStatus() throws Exception {
    faults.script(GET).then(Fault.fail(Status.INVALID_ARGUMENT.withDescription("bad id")));
    StatusRuntimeException failure =
        awaitFailure(ItemServiceGrpc.newFutureStub(channel(policy(5).build())).getItem(get("a")));
    assertThat(failure.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(failure.getStatus().getDescription())
        .isEqualTo(
            "bad id [grpc-retry: 1 attempt; not retried because status INVALID_ARGUMENT is not"
                + " retryable]");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(budget.outcomes()).containsExactly(Outcome.NON_RETRYABLE_FAILURE);
    assertThat(budget.acquired).isEmpty();
  }

  @Test
  void neverRetriesOk() throws Exception {
    Item item = await(ItemServiceGrpc.newFutureStub(channel(policy(5).build())).getItem(get("a")));
    assertThat(item.getValue()).isEqualTo("value-a");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(budget.outcomes()).containsExactly(Outcome.SUCCESS);
    assertThat(clock.pendingTaskCount()).isZero();
  }

  @Test
  void aCustomClassifierDecides() throws Exception {
    faults.script(GET).then(Fault.fail(Status.INTERNAL));
    StatusClassifier retryInternal =
        failure ->
            failure.status().getCode() == Status.Code.INTERNAL
                ? StatusClassifier.Category.RETRYABLE
                : StatusClassifier.Category.TERMINAL;
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock).defaultPolicy(policy(2).build()).classifier(retryInternal).build());
    ListenableFuture<Item> future = ItemServiceGrpc.newFutureStub(channel).getItem(get("a"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    assertThat(await(future).getId()).isEqualTo("a");
    assertThat(faults.attemptCount(GET)).isEqualTo(2);
  }

  @Test
  void everyAttemptGetsAFreshCopyOfTheCallersHeaders() throws Exception {
    // Below the retry interceptor: runs once per attempt and changes the headers it is given.
    AtomicInteger below = new AtomicInteger();
    ClientInterceptor mutating =
        new ClientInterceptor() {
          @Override
          public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
              MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
            below.incrementAndGet();
            return new ForwardingClientCall.SimpleForwardingClientCall<>(
                next.newCall(method, options)) {
              @Override
              public void start(Listener<RespT> listener, Metadata headers) {
                headers.put(BELOW, "x");
                super.start(listener, headers);
              }
            };
          }
        };
    // Above it: runs once per call.
    AtomicInteger above = new AtomicInteger();
    ClientInterceptor tracing =
        new ClientInterceptor() {
          @Override
          public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
              MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
            above.incrementAndGet();
            return new ForwardingClientCall.SimpleForwardingClientCall<>(
                next.newCall(method, options)) {
              @Override
              public void start(Listener<RespT> listener, Metadata headers) {
                headers.put(TRACE, "t-1");
                super.start(listener, headers);
              }
            };
          }
        };
    Channel channel =
        ClientInterceptors.intercept(
            ClientInterceptors.intercept(grpc.channel(), mutating),
            retryOn(clock).defaultPolicy(policy(3).build()).build(),
            tracing);
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE), 2);
    ListenableFuture<Item> future = ItemServiceGrpc.newFutureStub(channel).getItem(get("a"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(200));
    await(future);

    List<AttemptRecord> attempts = faults.attempts(GET);
    assertThat(attempts).hasSize(3);
    for (AttemptRecord attempt : attempts) {
      assertThat(attempt.headers().getAll(TRACE)).containsExactly("t-1");
      assertThat(attempt.headers().getAll(BELOW)).containsExactly("x");
    }
    assertThat(attempts.get(0).headers().containsKey(RetryingCall.PREVIOUS_ATTEMPTS_KEY)).isFalse();
    assertThat(attempts.get(2).headers().getAll(RetryingCall.PREVIOUS_ATTEMPTS_KEY))
        .containsExactly("2");
    assertThat(above).hasValue(1);
    assertThat(below).hasValue(3);
  }

  @Test
  void maxAttemptsOfOneNeverRetries() throws Exception {
    // With maxAttempts 1 the policy still applies its timeout but never retries.
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE));
    StatusRuntimeException failure =
        awaitFailure(ItemServiceGrpc.newFutureStub(channel(policy(1).build())).getItem(get("a")));
    assertThat(failure.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    // Nothing to retry: the channel's own call is used, untouched.
    assertThat(failure.getStatus().getDescription()).isNull();
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
  }

  @Test
  void theServerSeesTheRequestOnEveryAttempt() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE));
    ListenableFuture<Item> future =
        ItemServiceGrpc.newFutureStub(channel(policy(2).build())).getItem(get("x"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    await(future);
    assertThat(faults.attempts(GET).get(1).requests())
        .containsExactly(GetItemRequest.newBuilder().setId("x").build());
  }
}
