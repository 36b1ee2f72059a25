package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.CREATE;
import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.PUT;
import static io.github.grpcretry.Fixtures.awaitTimers;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The call's deadline across attempts, per-attempt timeouts and the policy's timeout. */
class DeadlineTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  /** Remaining time of each server call's deadline, in nanoseconds (-1: none). */
  private final List<Long> serverDeadlines = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp() {
    ServerInterceptor deadlines =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
            Deadline deadline = Context.current().getDeadline();
            serverDeadlines.add(deadline == null ? -1 : deadline.timeRemaining(TimeUnit.NANOSECONDS));
            return next.startCall(call, headers);
          }
        };
    grpc.addService(new DemoItemService()).addServerInterceptor(deadlines).addServerInterceptor(faults);
  }

  private Channel channel(RetryPolicy policy) {
    return ClientInterceptors.intercept(grpc.channel(), retryOn(clock).defaultPolicy(policy).build());
  }

  /** Backoffs far longer than any real-time delay in the test: 10 s doubling up to 100 s. */
  private static RetryPolicy.Builder slowPolicy(int attempts) {
    return policy(attempts).initialBackoff(Duration.ofSeconds(10)).maxBackoff(Duration.ofSeconds(100));
  }

  private static <ReqT> RecordingListener<Item> unary(
      Channel channel, io.grpc.MethodDescriptor<ReqT, Item> method, CallOptions options, ReqT request) {
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<ReqT, Item> call = channel.newCall(method, options);
    call.start(listener, new Metadata());
    call.request(2);
    call.sendMessage(request);
    call.halfClose();
    return listener;
  }

  @Test
  void aRetryWhoseBackoffWouldEndPastTheDeadlineIsNotScheduled() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    CallOptions options = CallOptions.DEFAULT.withDeadline(clock.deadlineAfter(Duration.ofSeconds(25)));
    RecordingListener<Item> listener = unary(channel(slowPolicy(5).build()), GET, options, get("a"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofSeconds(10)); // attempt 2 at 10 s; the next backoff (20 s) ends past 25 s

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription())
        .contains("2 attempts (UNAVAILABLE, UNAVAILABLE); not retried because the next attempt (after PT20S) would start"
            + " at or after the deadline (PT15S left)");
    assertThat(faults.attemptCount(GET)).isEqualTo(2);
    assertThat(clock.pendingTaskCount()).isZero();
    listener.assertContractKept();
  }

  @Test
  void everyAttemptCarriesTheCallsDeadline() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE));
    CallOptions options = CallOptions.DEFAULT.withDeadline(clock.deadlineAfter(Duration.ofSeconds(2)));
    RecordingListener<Item> listener = unary(channel(policy(2).build()), GET, options, get("a"));
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100));
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(serverDeadlines).hasSize(2);
    assertThat(serverDeadlines.get(0)).isPositive().isLessThanOrEqualTo(Duration.ofSeconds(2).toNanos());
    // The second attempt has 100 ms less: the deadline covers the whole call, not each attempt.
    assertThat(serverDeadlines.get(1)).isPositive().isLessThanOrEqualTo(Duration.ofMillis(1900).toNanos());
  }

  @Test
  void thePolicyTimeoutIsTheDeadlineWhenTheCallerSetNone() throws Exception {
    RetryPolicy withTimeout = policy(2).timeout(Duration.ofSeconds(5)).build();
    RecordingListener<Item> listener = unary(channel(withTimeout), GET, CallOptions.DEFAULT, get("a"));
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(serverDeadlines.get(0)).isPositive().isLessThanOrEqualTo(Duration.ofSeconds(5).toNanos());

    CallOptions caller = CallOptions.DEFAULT.withDeadline(clock.deadlineAfter(Duration.ofSeconds(60)));
    RecordingListener<Item> second = unary(channel(withTimeout), GET, caller, get("b"));
    assertThat(second.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    // The caller's own deadline wins, even when it is later.
    assertThat(serverDeadlines.get(1)).isGreaterThan(Duration.ofSeconds(5).toNanos());
  }

  @Test
  void aPerAttemptTimeoutIsRetriedForAnIdempotentMethod() throws Exception {
    faults.script(PUT).then(Fault.hang());
    RetryPolicy policy = policy(3).perAttemptTimeout(Duration.ofSeconds(20)).build();
    RecordingListener<Item> listener =
        unary(channel(policy), PUT, CallOptions.DEFAULT,
            PutItemRequest.newBuilder().setItem(item("a")).build());
    awaitTimers(clock, 1);
    assertThat(clock.pendingDelays()).containsExactly(Duration.ofSeconds(20));
    clock.advance(Duration.ofSeconds(20)); // the attempt times out
    assertThat(faults.awaitClosed(PUT, 1, Duration.ofSeconds(10))).isTrue();
    awaitTimers(clock, 1);
    clock.advance(Duration.ofMillis(100)); // backoff

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.attemptCount(PUT)).isEqualTo(2);
    assertThat(faults.attempts(PUT).get(0).outcome().getCode()).isEqualTo(Status.Code.CANCELLED);
    // The per-attempt timeout is the client's own timer: the server sees the call's deadline (none
    // here), since an attempt that nothing can replace is kept running past its timeout.
    assertThat(serverDeadlines.get(0)).isEqualTo(-1);
    listener.assertContractKept();
  }

  @Test
  void aTimedOutAttemptOfAMethodThatIsNotIdempotentIsKeptAndItsLateAnswerWins() throws Exception {
    faults.script(CREATE).then(Fault.delay(Duration.ofSeconds(30)));
    RetryPolicy policy = policy(3).perAttemptTimeout(Duration.ofSeconds(20)).build();
    RecordingListener<Item> listener =
        unary(channel(policy), CREATE, CallOptions.DEFAULT,
            CreateItemRequest.newBuilder().setItem(item("a")).build());
    awaitTimers(clock, 2); // the server's delay and the per-attempt timer
    clock.advance(Duration.ofSeconds(20)); // the per-attempt timeout passes: nothing may replace it
    assertThat(faults.attempts(CREATE).get(0).outcome()).as("still running").isNull();
    clock.advance(Duration.ofSeconds(10)); // the server answers

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).hasSize(1);
    assertThat(faults.attemptCount(CREATE)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void aKeptAttemptThatFailsLaterSaysWhyItWasKept() throws Exception {
    faults
        .script(CREATE)
        .then(Fault.delay(Duration.ofSeconds(30), Fault.fail(Status.INVALID_ARGUMENT.withDescription("bad"))));
    RetryPolicy policy = policy(3).perAttemptTimeout(Duration.ofSeconds(20)).build();
    RecordingListener<Item> listener =
        unary(channel(policy), CREATE, CallOptions.DEFAULT,
            CreateItemRequest.newBuilder().setItem(item("a")).build());
    awaitTimers(clock, 2);
    clock.advance(Duration.ofSeconds(30));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(status.getDescription())
        .isEqualTo(
            "bad [grpc-retry: 1 attempt; not retried because status INVALID_ARGUMENT is not"
                + " retryable; the per-attempt timeout (PT20S) of attempt 1 passed and it was kept"
                + " running because a timed-out attempt is retried only for idempotent or"
                + " side-effect-free methods]");
    assertThat(faults.attemptCount(CREATE)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void aTimedOutAttemptIsKeptWhenTheCallsDeadlineLeavesNoRoomForAnother() throws Exception {
    faults.script(GET).then(Fault.delay(Duration.ofMillis(20_020)));
    RetryPolicy policy = policy(5).perAttemptTimeout(Duration.ofSeconds(20)).build();
    CallOptions options =
        CallOptions.DEFAULT.withDeadline(clock.deadlineAfter(Duration.ofMillis(20_050)));
    RecordingListener<Item> listener = unary(channel(policy), GET, options, get("a"));
    awaitTimers(clock, 2);
    clock.advance(Duration.ofSeconds(20)); // a retry after 100 ms of backoff would start too late
    assertThat(faults.attempts(GET).get(0).outcome()).as("still running").isNull();
    clock.advance(Duration.ofMillis(20));

    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void aDeadlineThatPassesDuringBackoffEndsTheCallWithTheLastAttemptsStatus() throws Exception {
    // A ticker that can jump ahead of the scheduler, as when a timer thread runs late.
    AtomicLong lateness = new AtomicLong();
    Deadline.Ticker lateTicker =
        new Deadline.Ticker() {
          @Override
          public long nanoTime() {
            return clock.nanoTime() + lateness.get();
          }
        };
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock).ticker(lateTicker).defaultPolicy(policy(5).build()).build());
    CallOptions options =
        CallOptions.DEFAULT.withDeadline(
            Deadline.after(150, TimeUnit.MILLISECONDS, lateTicker));
    RecordingListener<Item> listener = unary(channel, GET, options, get("a"));
    awaitTimers(clock, 1);
    lateness.set(Duration.ofMillis(200).toNanos());
    clock.advance(Duration.ofMillis(100));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(status.getDescription())
        .isEqualTo(
            "grpc-retry: the call's deadline passed during backoff [grpc-retry: 1 attempt;"
                + " last attempt: UNAVAILABLE: down]");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void aContextDeadlineThatFiresDuringBackoffEndsTheCall() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    Context.CancellableContext context = Context.current().withCancellation();
    RecordingListener<Item> listener;
    Context previous = context.attach();
    try {
      listener = unary(channel(policy(5).initialBackoff(Duration.ofSeconds(1)).build()), GET,
          CallOptions.DEFAULT, get("a"));
    } finally {
      context.detach(previous);
    }
    awaitTimers(clock, 1);
    // What Context does when its deadline passes: cancel with a TimeoutException.
    context.cancel(new TimeoutException("context timed out"));

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    assertThat(status.getDescription()).contains("last attempt: UNAVAILABLE: down");
    assertThat(clock.pendingTaskCount()).isZero();
    clock.advance(Duration.ofSeconds(10));
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void theContextsDeadlineCountsWhenItIsEarlier() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    Context.CancellableContext context =
        Context.current().withDeadline(clock.deadlineAfter(Duration.ofSeconds(15)), clock.scheduler());
    RecordingListener<Item> listener;
    Context previous = context.attach();
    try {
      listener = unary(channel(slowPolicy(5).build()), GET,
          CallOptions.DEFAULT.withDeadline(clock.deadlineAfter(Duration.ofSeconds(30))), get("a"));
    } finally {
      context.detach(previous);
    }
    // A backoff of 10 s fits within 15 s; the one after (20 s) does not.
    awaitTimers(clock, 2); // the context's deadline timer and the backoff timer
    clock.advance(Duration.ofSeconds(10));
    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).contains("would start at or after the deadline");
    assertThat(faults.attemptCount(GET)).isEqualTo(2);
    context.cancel(null);
  }
}
