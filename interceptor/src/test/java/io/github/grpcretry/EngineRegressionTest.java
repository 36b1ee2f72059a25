// How each test fails on the engine of 523c874 (RetryingCall before the rewrite):
// - cancelRacingAHedgeStartClosesTheCallOnce: the hedge released from the budget after cancel()
//   still starts (a second attempt reaches the server and hangs); onClose never comes
//   ("onClose within PT10S").
// - perAttemptTimerFiringAfterTheServerAnsweredOkDeliversTheAnswer: OK with no message; the timer
//   marked the attempt cancelled, so its headers and message were dropped.
// - perAttemptTimerFiringAfterTheServerFailedEndsWithTheServersStatus: the server's
//   INVALID_ARGUMENT is taken for a per-attempt timeout and retried; the call ends OK.
// - cancelAfterTheServerAnsweredGivesTheAnswerOrCancelledNeverOkWithoutTheMessage: with nothing
//   delivered yet it gives CANCELLED (allowed); with the headers delivered, "OK with messages []".
// - perAttemptTimerFiringAfterAServerStreamCommittedChangesNothing: the timer cancels the committed
//   attempt and later request(n) calls are dropped; the last messages and the close never come
//   ("onClose within PT10S").
// - perAttemptTimerFiringAfterABidiStreamCommittedChangesNothing: DEADLINE_EXCEEDED after the
//   first echo.
// - hedgedClientStreamPastTheBufferLimitCommitsToOneAttemptAndKeepsNothing: past the limit both
//   hedges go on and the log keeps every message; "one hedge cancelled at the server within PT10S".
// - anAbandonedHedgeWhoseServerClosedWithMessagesQueuedStillLetsTheCallClose: the final close
//   waits for the abandoned hedge, whose close the in-process transport never delivers
//   ("onClose within PT10S").
// - theFirstAttemptsOnReadyIsDelivered: the first attempt's onReady arrives during its start,
//   before the attempt counts as live, and is dropped ("onReady at the application within PT10S").
// - hedgingNeverExceedsMaxAttemptsWhileTheBudgetIsSlow: 3 attempts reach the server (maxAttempts 2).
// - onCloseNeverRunsUnderTheCallsLock: onClose runs inside the Context listener that the engine
//   adds under its lock (the context is already cancelled, so the listener runs at once); the probe
//   thread stays blocked.

package io.github.grpcretry;

import static io.github.grpcretry.EngineRegressionKit.WAIT;
import static io.github.grpcretry.EngineRegressionKit.await;
import static io.github.grpcretry.EngineRegressionKit.runUntilClosed;
import static io.github.grpcretry.EngineRegressionKit.runUntilMessages;
import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.LIST;
import static io.github.grpcretry.Fixtures.SYNC;
import static io.github.grpcretry.Fixtures.UPLOAD;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.EngineRegressionKit.AttemptCloses;
import io.github.grpcretry.EngineRegressionKit.Captured;
import io.github.grpcretry.EngineRegressionKit.CapturedCalls;
import io.github.grpcretry.EngineRegressionKit.HeldExecutor;
import io.github.grpcretry.EngineRegressionKit.SlowBudget;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Regression tests of the call engine ({@code RetryingCall}), one per reported defect: races
 * between hedges, timers, the application's cancel and what the server really sent. Orderings are
 * forced with the manual clock, a held call executor and a budget that blocks, never with sleeps.
 */
class EngineRegressionTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  private final ExecutorService background = EngineRegressionKit.daemonThreads("regression");

  @AfterEach
  void stopBackground() {
    background.shutdownNow();
  }

  private static HedgingPolicy.Builder hedging(int attempts, Duration delay) {
    return HedgingPolicy.newBuilder()
        .maxAttempts(attempts)
        .hedgingDelay(delay)
        .nonFatalStatusCodes(Status.Code.UNAVAILABLE);
  }

  /** One call on the channel, so that later calls find it connected and start synchronously. */
  private static void warmUp(Channel channel) {
    ItemServiceGrpc.newBlockingStub(channel)
        .putItem(PutItemRequest.newBuilder().setItem(item("warm-up")).build());
  }

  private static <ReqT, RespT> ClientCall<ReqT, RespT> startUnary(
      Channel channel,
      MethodDescriptor<ReqT, RespT> method,
      CallOptions options,
      ClientCall.Listener<RespT> listener,
      ReqT request,
      int requested) {
    ClientCall<ReqT, RespT> call = channel.newCall(method, options);
    call.start(listener, new Metadata());
    call.request(requested);
    call.sendMessage(request);
    call.halfClose();
    return call;
  }

  // 1 ---------------------------------------------------------------------------------------------

  @Test
  void cancelRacingAHedgeStartClosesTheCallOnce() throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    faults.script(GET).otherwise(Fault.hang());
    SlowBudget budget = new SlowBudget();
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock)
                .methodPolicy(GET, hedging(3, Duration.ofMillis(100)).build())
                .retryBudget(budget)
                .build());
    HeldExecutor held = new HeldExecutor();
    // Held tasks run on one thread of their own: whatever the engine hands to the call's executor
    // may wait in the slow budget too, and the test thread must stay free.
    ExecutorService heldRunner = EngineRegressionKit.daemonThreads("held-runner");
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<GetItemRequest, Item> call =
        startUnary(channel, GET, CallOptions.DEFAULT.withExecutor(held), listener, get("c"), 1);
    assertThat(faults.awaitAttempts(GET, 1, WAIT)).isTrue();

    // The hedging timer fires; the hedge it sends waits in the budget.
    Future<?> timer = background.submit(() -> clock.advance(Duration.ofMillis(100)));
    long end = System.nanoTime() + WAIT.toNanos();
    while (budget.entered() == 0) {
      assertThat(System.nanoTime() - end).as("the hedge asks the budget").isNegative();
      if (held.pending() > 0) {
        heldRunner.submit(held::runAll);
      }
      Thread.sleep(1);
    }
    call.cancel("caller gave up", null);
    budget.release();
    timer.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);

    heldRunner
        .submit(
            () -> {
              runUntilClosed(held, listener, null, Duration.ZERO);
              return null;
            })
        .get(WAIT.toMillis() + 1_000, TimeUnit.MILLISECONDS);
    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(status.getDescription()).isEqualTo("caller gave up");
    assertThat(faults.attemptCount(GET)).as("attempts at the server").isEqualTo(1);
    clock.advance(Duration.ofSeconds(60));
    heldRunner.submit(held::runAll).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(clock.pendingTaskCount()).as("timers left on the clock").isZero();
    assertThat(faults.attemptCount(GET)).as("attempts at the server").isEqualTo(1);
    assertThat(listener.events()).containsOnlyOnce("close").doesNotContain("headers", "message");
    listener.assertContractKept();
    heldRunner.shutdownNow();
  }

  // 2 ---------------------------------------------------------------------------------------------

  /** A policy with a per-attempt timeout of 30 s, far longer than any test runs in real time. */
  private Channel perAttemptTimeoutChannel() {
    return ClientInterceptors.intercept(
        grpc.channel(),
        retryOn(clock)
            .defaultPolicy(policy(3).perAttemptTimeout(Duration.ofSeconds(30)).build())
            .build());
  }

  @Test
  void perAttemptTimerFiringAfterTheServerAnsweredOkDeliversTheAnswer() throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    Channel channel = perAttemptTimeoutChannel();
    HeldExecutor held = new HeldExecutor();
    RecordingListener<Item> listener = new RecordingListener<>();
    startUnary(channel, GET, CallOptions.DEFAULT.withExecutor(held), listener, get("a"), 2);
    // The server has answered; the answer waits in the call's executor.
    assertThat(faults.awaitClosed(GET, 1, WAIT)).isTrue();
    assertThat(faults.attempts(GET).get(0).outcome().getCode()).isEqualTo(Status.Code.OK);

    clock.advance(Duration.ofSeconds(30)); // the per-attempt timer fires
    runUntilClosed(held, listener, clock, Duration.ofMillis(100));

    assertThat(listener.status().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("a");
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void perAttemptTimerFiringAfterTheServerFailedEndsWithTheServersStatus() throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    faults.script(GET).then(Fault.fail(Status.INVALID_ARGUMENT.withDescription("bad id")));
    Channel channel = perAttemptTimeoutChannel();
    HeldExecutor held = new HeldExecutor();
    RecordingListener<Item> listener = new RecordingListener<>();
    startUnary(channel, GET, CallOptions.DEFAULT.withExecutor(held), listener, get("a"), 2);
    assertThat(faults.awaitClosed(GET, 1, WAIT)).isTrue();

    clock.advance(Duration.ofSeconds(30)); // the per-attempt timer fires
    runUntilClosed(held, listener, clock, Duration.ofMillis(100));

    Status status = listener.status();
    assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(status.getDescription()).startsWith("bad id");
    clock.advance(Duration.ofSeconds(5));
    held.runAll();
    assertThat(faults.attemptCount(GET)).as("attempts at the server").isEqualTo(1);
    listener.assertContractKept();
  }

  /**
   * The application cancels after the server's answer reached the transport, and before the call
   * delivered it: first with nothing delivered, then with the response headers delivered. Either
   * the cancel wins (CANCELLED, no message) or the answer does (the message, then OK); never OK
   * without the message.
   */
  @Test
  void cancelAfterTheServerAnsweredGivesTheAnswerOrCancelledNeverOkWithoutTheMessage()
      throws Exception {
    CapturedCalls server = new CapturedCalls(GET);
    grpc.addService(new DemoItemService()).addServerInterceptor(server);
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(), retryOn(clock).defaultPolicy(policy(3).build()).build());

    for (boolean headersSeen : new boolean[] {false, true}) {
      HeldExecutor held = new HeldExecutor();
      RecordingListener<Item> listener = new RecordingListener<>();
      ClientCall<GetItemRequest, Item> call =
          startUnary(channel, GET, CallOptions.DEFAULT.withExecutor(held), listener, get("a"), 2);
      server.awaitCount(headersSeen ? 2 : 1);
      Captured answer = server.get(server.count() - 1);
      answer.sendHeaders();
      if (headersSeen) {
        await("headers at the application", () -> {
          held.runAll();
          return listener.headers() != null;
        });
      }
      answer.sendMessage(item("a"));
      answer.close(Status.OK);

      call.cancel("caller gave up", null);
      runUntilClosed(held, listener, clock, Duration.ofMillis(100));

      Status status = listener.status();
      List<String> ids = listener.messages().stream().map(Item::getId).collect(Collectors.toList());
      String outcome = status.getCode() + " with messages " + ids;
      assertThat(outcome)
          .as("headers seen before the cancel: %s", headersSeen)
          .isIn("OK with messages [a]", "CANCELLED with messages []");
      listener.assertContractKept();
    }
  }

  @Test
  void perAttemptTimerFiringAfterAServerStreamCommittedChangesNothing() throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    Channel channel = perAttemptTimeoutChannel();
    HeldExecutor held = new HeldExecutor();
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<ListItemsRequest, Item> call =
        startUnary(
            channel,
            LIST,
            CallOptions.DEFAULT.withExecutor(held),
            listener,
            ListItemsRequest.newBuilder().setPrefix("s").setLimit(5).build(),
            1);
    // The server sent five messages and closed; the client asked for one.
    assertThat(faults.awaitClosed(LIST, 1, WAIT)).isTrue();
    runUntilMessages(held, listener, 1);

    clock.advance(Duration.ofSeconds(30)); // the per-attempt timer fires after the commit
    call.request(10);
    runUntilClosed(held, listener, null, Duration.ZERO);

    assertThat(listener.status().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages())
        .extracting(Item::getId)
        .containsExactly("s-0", "s-1", "s-2", "s-3", "s-4");
    assertThat(faults.attemptCount(LIST)).isEqualTo(1);
    listener.assertContractKept();
  }

  @Test
  void perAttemptTimerFiringAfterABidiStreamCommittedChangesNothing() throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    Channel channel = perAttemptTimeoutChannel();
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<Item, Item> call = channel.newCall(SYNC, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(10);
    call.sendMessage(item("a"));
    listener.awaitMessages(1); // the echo: the call is committed

    clock.advance(Duration.ofSeconds(30)); // the per-attempt timer fires after the commit
    call.sendMessage(item("b"));
    call.sendMessage(item("c"));
    call.halfClose();

    Status status = listener.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages()).extracting(Item::getId).containsExactly("a", "b", "c");
    assertThat(faults.attemptCount(SYNC)).isEqualTo(1);
    listener.assertContractKept();
  }

  // 3 ---------------------------------------------------------------------------------------------

  /**
   * UploadItems that keeps only the ids it received, never the messages, so that the test can see
   * whether anything else keeps them; it answers at half-close.
   */
  static final class IdOnlyUploadService extends ItemServiceGrpc.ItemServiceImplBase {
    final List<Upload> uploads = new CopyOnWriteArrayList<>();

    static final class Upload {
      final List<String> ids = Collections.synchronizedList(new ArrayList<>());
      volatile boolean cancelled;
    }

    @Override
    public StreamObserver<Item> uploadItems(StreamObserver<UploadSummary> responseObserver) {
      Upload upload = new Upload();
      uploads.add(upload);
      return new StreamObserver<>() {
        @Override
        public void onNext(Item item) {
          upload.ids.add(item.getId());
        }

        @Override
        public void onError(Throwable t) {
          upload.cancelled = true;
        }

        @Override
        public void onCompleted() {
          List<String> ids;
          synchronized (upload.ids) {
            ids = new ArrayList<>(upload.ids);
          }
          responseObserver.onNext(
              UploadSummary.newBuilder().setCount(ids.size()).addAllIds(ids).build());
          responseObserver.onCompleted();
        }
      };
    }
  }

  /** Sends {@code count} messages of about 1 KiB and returns weak references to them. */
  private static List<WeakReference<Item>> sendMessages(
      ClientCall<Item, UploadSummary> call, int count, Runnable afterEach) {
    List<WeakReference<Item>> sent = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Item message = item("m" + i, 1_000);
      sent.add(new WeakReference<>(message));
      call.sendMessage(message);
      afterEach.run();
    }
    return sent;
  }

  /** Whether a few full collections (bounded) clear every reference. */
  private static boolean allCollected(List<WeakReference<Item>> sent) throws InterruptedException {
    for (int round = 0; round < 20; round++) {
      if (sent.stream().allMatch(ref -> ref.get() == null)) {
        return true;
      }
      System.gc();
      Thread.sleep(5);
    }
    return sent.stream().allMatch(ref -> ref.get() == null);
  }

  @Test
  void hedgedClientStreamPastTheBufferLimitCommitsToOneAttemptAndKeepsNothing() throws Exception {
    IdOnlyUploadService service = new IdOnlyUploadService();
    grpc.addService(service);
    long limit = 4096;
    RetryInterceptor retry =
        retryOn(clock)
            .methodPolicy(UPLOAD, hedging(3, Duration.ofMillis(100)).build())
            .perCallBufferLimit(limit)
            .build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);

    // The harness itself: without the interceptor, sent messages can be collected.
    RecordingListener<UploadSummary> control = new RecordingListener<>();
    ClientCall<Item, UploadSummary> plain = grpc.channel().newCall(UPLOAD, CallOptions.DEFAULT);
    plain.start(control, new Metadata());
    plain.request(1);
    assertThat(allCollected(sendMessages(plain, 8, () -> {}))).as("control: collected").isTrue();
    plain.halfClose();
    assertThat(control.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    service.uploads.clear();

    RecordingListener<UploadSummary> listener = new RecordingListener<>();
    ClientCall<Item, UploadSummary> call = channel.newCall(UPLOAD, CallOptions.DEFAULT);
    call.start(listener, new Metadata());
    call.request(1);
    await("the first attempt at the server", () -> service.uploads.size() == 1);
    clock.advance(Duration.ofMillis(100)); // the second hedge
    await("the second hedge at the server", () -> service.uploads.size() == 2);

    long[] maxBuffered = {0};
    List<WeakReference<Item>> sent =
        sendMessages(
            call, 40, () -> maxBuffered[0] = Math.max(maxBuffered[0], retry.bufferedBytes()));
    assertThat(maxBuffered[0]).as("bufferedBytes while sending").isLessThanOrEqualTo(limit);

    // Over the limit: committed to one attempt, the other hedge cancelled, no further hedge.
    await("one hedge cancelled at the server",
        () -> service.uploads.stream().filter(u -> u.cancelled).count() == 1);
    clock.advance(Duration.ofSeconds(10));
    assertThat(service.uploads).as("attempts at the server").hasSize(2);
    assertThat(allCollected(sent)).as("sent messages released by the interceptor").isTrue();

    call.halfClose();
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    List<String> expected = IntStream.range(0, 40).mapToObj(i -> "m" + i).collect(Collectors.toList());
    assertThat(listener.messages()).hasSize(1);
    assertThat(listener.messages().get(0).getIdsList()).isEqualTo(expected);
    IdOnlyUploadService.Upload winner =
        service.uploads.stream().filter(u -> !u.cancelled).findFirst().orElseThrow();
    assertThat(winner.ids).isEqualTo(expected);
    assertThat(retry.bufferedBytes()).isZero();
    listener.assertContractKept();
  }

  // 4 ---------------------------------------------------------------------------------------------

  @Test
  void anAbandonedHedgeWhoseServerClosedWithMessagesQueuedStillLetsTheCallClose()
      throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock).methodPolicy(LIST, hedging(2, Duration.ZERO).build()).build());
    HeldExecutor held = new HeldExecutor();
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<ListItemsRequest, Item> call =
        startUnary(
            channel,
            LIST,
            CallOptions.DEFAULT.withExecutor(held),
            listener,
            ListItemsRequest.newBuilder().setPrefix("s").setLimit(5).build(),
            1);
    // Both hedges were served at once: five messages each, then closed; one message requested.
    assertThat(faults.awaitClosed(LIST, 2, WAIT)).isTrue();
    runUntilMessages(held, listener, 1); // one hedge commits, the other is abandoned

    call.request(10);
    runUntilClosed(held, listener, null, Duration.ZERO);

    assertThat(listener.status().getCode()).isEqualTo(Status.Code.OK);
    assertThat(listener.messages())
        .extracting(Item::getId)
        .containsExactly("s-0", "s-1", "s-2", "s-3", "s-4");
    listener.assertContractKept();
  }

  // 5 ---------------------------------------------------------------------------------------------

  @Test
  void theFirstAttemptsOnReadyIsDelivered() throws Exception {
    grpc.addService(new DemoItemService());
    ManagedChannel direct = grpc.newChannel(builder -> builder.directExecutor());
    warmUp(direct);
    Channel channel =
        ClientInterceptors.intercept(
            direct, retryOn(clock).defaultPolicy(policy(3).build()).build());
    RecordingListener<Item> recording = new RecordingListener<>();
    AtomicReference<ClientCall<Item, Item>> callRef = new AtomicReference<>();
    AtomicBoolean sent = new AtomicBoolean();
    ClientCall.Listener<Item> sendsWhenReady =
        new ClientCall.Listener<>() {
          @Override
          public void onHeaders(Metadata headers) {
            recording.onHeaders(headers);
          }

          @Override
          public void onMessage(Item message) {
            recording.onMessage(message);
          }

          @Override
          public void onReady() {
            recording.onReady();
            ClientCall<Item, Item> call = callRef.get();
            if (call != null && call.isReady() && sent.compareAndSet(false, true)) {
              call.sendMessage(item("a"));
              call.sendMessage(item("b"));
              call.halfClose();
            }
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            recording.onClose(status, trailers);
          }
        };
    ClientCall<Item, Item> call = channel.newCall(SYNC, CallOptions.DEFAULT);
    callRef.set(call);
    try {
      call.start(sendsWhenReady, new Metadata());
      call.request(10);

      await("onReady at the application", () -> recording.readyCount() > 0);
      Status status = recording.awaitClose();
      assertThat(status.getCode()).isEqualTo(Status.Code.OK);
      assertThat(recording.readyCount()).isPositive();
      assertThat(recording.messages()).extracting(Item::getId).containsExactly("a", "b");
      recording.assertContractKept();
    } finally {
      call.cancel("test over", null); // a no-op once closed; frees the channel otherwise
    }
  }

  // 6 ---------------------------------------------------------------------------------------------

  @Test
  void hedgingNeverExceedsMaxAttemptsWhileTheBudgetIsSlow() throws Exception {
    CapturedCalls server = new CapturedCalls(GET);
    grpc.addService(new DemoItemService()).addServerInterceptor(server);
    warmUp(grpc.channel());
    SlowBudget budget = new SlowBudget();
    AttemptCloses closes = new AttemptCloses();
    Channel channel =
        ClientInterceptors.intercept(
            ClientInterceptors.intercept(grpc.channel(), closes),
            retryOn(clock)
                .methodPolicy(GET, hedging(2, Duration.ofMillis(100)).build())
                .retryBudget(budget)
                .build());
    RecordingListener<Item> listener = new RecordingListener<>();
    startUnary(channel, GET, CallOptions.DEFAULT, listener, get("h"), 1);
    server.awaitCount(1);

    // Trigger one: the hedging timer; its hedge waits in the budget.
    Future<?> timer = background.submit(() -> clock.advance(Duration.ofMillis(100)));
    await("the timer's hedge asks the budget", () -> budget.entered() >= 1);
    // Trigger two: attempt 1 fails with a non-fatal code, which asks for the next hedge at once.
    server.get(0).close(Status.UNAVAILABLE.withDescription("attempt 1 down"));
    await("the failure handled, or its hedge waiting in the budget",
        () -> budget.entered() >= 2 || closes.returned() >= 1);
    budget.release();
    timer.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    await("attempt 1's close handled", () -> closes.returned() >= 1);
    clock.runDueTasks();

    server.awaitCount(2);
    assertThat(server.count()).as("attempts at the server (maxAttempts 2)").isLessThanOrEqualTo(2);
    for (Captured attempt : server.all()) {
      attempt.answer(item("h"));
    }
    assertThat(listener.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(server.count()).as("attempts at the server (maxAttempts 2)").isLessThanOrEqualTo(2);
    listener.assertContractKept();
  }

  // 8 ---------------------------------------------------------------------------------------------

  @Test
  void onCloseNeverRunsUnderTheCallsLock() throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE));
    Context.CancellableContext context = Context.current().withCancellation();
    StatusClassifier cancelsTheContext =
        failure -> {
          context.cancel(new IllegalStateException("the classifier cancelled the context"));
          return StatusClassifier.Category.RETRYABLE;
        };
    Channel channel =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock).defaultPolicy(policy(3).build()).classifier(cancelsTheContext).build());
    RecordingListener<Item> recording = new RecordingListener<>();
    AtomicReference<ClientCall<GetItemRequest, Item>> callRef = new AtomicReference<>();
    AtomicBoolean probeFinished = new AtomicBoolean();
    ClientCall.Listener<Item> probing =
        new ClientCall.Listener<>() {
          @Override
          public void onHeaders(Metadata headers) {
            recording.onHeaders(headers);
          }

          @Override
          public void onMessage(Item message) {
            recording.onMessage(message);
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            // Another thread uses the call: it blocks if this callback holds the call's lock.
            Thread probe = new Thread(() -> callRef.get().isReady(), "lock-probe");
            probe.setDaemon(true);
            probe.start();
            try {
              probe.join(WAIT.toMillis() / 2);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            probeFinished.set(!probe.isAlive());
            recording.onClose(status, trailers);
          }
        };
    context.run(
        () -> {
          ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
          callRef.set(call);
          call.start(probing, new Metadata());
          call.request(2);
          call.sendMessage(get("a"));
          call.halfClose();
        });

    recording.awaitClose();
    assertThat(probeFinished).as("the probe thread got the call's lock during onClose").isTrue();
    assertThat(recording.events()).containsOnlyOnce("close");
    recording.assertContractKept();
  }
}
