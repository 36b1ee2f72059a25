// How each test fails on the engine of 523c874 (RetryingCall before the rewrite). The plain
// in-process ClientCallImpl throws IllegalStateException with the messages asserted here:
// - sendMessageAfterHalfCloseIsRejectedAsByAPlainCallAndIsReadyIsFalse: nothing thrown (the
//   message goes down to the attempt, whose ClientCallImpl throws into the engine and fails the
//   attempt instead). isReady() is already false after halfClose().
// - halfCloseTwiceIsRejectedAsByAPlainCall: nothing thrown (the same way).
// - sendMessageAfterTheApplicationsCancelIsRejectedAsByAPlainCall,
//   halfCloseAfterTheApplicationsCancelIsRejectedAsByAPlainCall: nothing thrown; ignored.
// - startAfterTheApplicationsCancelIsRejectedAsByAPlainCall: nothing thrown; onClose(CANCELLED).
// - bufferedBytesNeverReadsAboveTheTotalLimit (also): the count really does pass the limit for a
//   moment (account() adds, then takes back), but that window is nanoseconds wide: the test saw it
//   (17187 > 16384) in 3 of 4 runs here, not in every run. It cannot fail a correct engine; on
//   this one it catches the bug only most of the time.
// - serviceConfigErrorMessagesStayShortWhateverTheInput (also): the 100 KB values in
//   initialBackoff and retryableStatusCodes are already quoted short (cut at 80 characters); a
//   100,000-character service name named twice gives a 100,073-character message, and an unknown
//   key of 100,000 characters a 100,208-character one.
// - aHedgingPolicyOnAMethodThatIsNotSafeToHedgeFailsTheCallNotInterceptCall (also): the blocking
//   stub gets the IllegalStateException thrown by interceptCall ("[call 1]").

package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.CREATE;
import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.SYNC;
import static io.github.grpcretry.Fixtures.UPLOAD;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
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
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Regression tests of what the application sees at the API: misuse reported as grpc-java reports
 * it, the buffer count, configuration errors, and a hedging policy on a method that is not safe to
 * hedge.
 */
class EngineRegressionTestApiTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  // 9 ---------------------------------------------------------------------------------------------

  /** A plain in-process channel and the same channel behind the retry interceptor. */
  private Channel[] plainAndRetrying() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    faults.script(GET).otherwise(Fault.hang());
    Channel plain = grpc.channel();
    // Connected, so that the plain channel hands out its own ClientCallImpl at once.
    ItemServiceGrpc.newBlockingStub(plain)
        .putItem(PutItemRequest.newBuilder().setItem(item("warm-up")).build());
    Channel retrying =
        ClientInterceptors.intercept(plain, retryOn(clock).defaultPolicy(policy(3).build()).build());
    return new Channel[] {plain, retrying};
  }

  private static ClientCall<GetItemRequest, Item> started(Channel channel) {
    ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
    call.start(new RecordingListener<>(), new Metadata());
    call.request(1);
    call.sendMessage(get("a"));
    return call;
  }

  /**
   * Applies {@code misuse} to a call of each channel set up by {@code setUp}, and checks that the
   * plain call throws {@code IllegalStateException(message)} and the retrying one the same.
   */
  private void assertMisuseReportedAsByAPlainCall(
      Consumer<ClientCall<GetItemRequest, Item>> misuse,
      Function<Channel, ClientCall<GetItemRequest, Item>> setUp,
      String message) {
    Channel[] channels = plainAndRetrying();
    List<ClientCall<GetItemRequest, Item>> calls = new ArrayList<>();
    try {
      ClientCall<GetItemRequest, Item> plainCall = setUp.apply(channels[0]);
      calls.add(plainCall);
      ClientCall<GetItemRequest, Item> retryingCall = setUp.apply(channels[1]);
      calls.add(retryingCall);

      Throwable plain = catchThrowable(() -> misuse.accept(plainCall));
      Throwable retrying = catchThrowable(() -> misuse.accept(retryingCall));
      assertThat(plain).as("plain ClientCallImpl").isInstanceOf(IllegalStateException.class).hasMessage(message);
      assertThat(retrying)
          .as("retrying call, beside the plain call")
          .isInstanceOf(IllegalStateException.class)
          .hasMessage(plain.getMessage());
    } finally {
      for (ClientCall<GetItemRequest, Item> call : calls) {
        call.cancel("test over", null);
      }
    }
  }

  @Test
  void sendMessageAfterHalfCloseIsRejectedAsByAPlainCallAndIsReadyIsFalse() {
    assertMisuseReportedAsByAPlainCall(
        call -> {
          // Not misuse, but the same state: a plain call is not ready once half-closed.
          if (call.isReady()) {
            throw new AssertionError("isReady() is true after halfClose() on " + call);
          }
          call.sendMessage(get("b"));
        },
        channel -> {
          ClientCall<GetItemRequest, Item> call = started(channel);
          call.halfClose();
          return call;
        },
        "call was half-closed");
  }

  @Test
  void halfCloseTwiceIsRejectedAsByAPlainCall() {
    assertMisuseReportedAsByAPlainCall(
        ClientCall::halfClose,
        channel -> {
          ClientCall<GetItemRequest, Item> call = started(channel);
          call.halfClose();
          return call;
        },
        "call already half-closed");
  }

  @Test
  void sendMessageAfterTheApplicationsCancelIsRejectedAsByAPlainCall() {
    assertMisuseReportedAsByAPlainCall(
        call -> call.sendMessage(get("b")),
        channel -> {
          ClientCall<GetItemRequest, Item> call = started(channel);
          call.cancel("cancelled by the application", null);
          return call;
        },
        "call was cancelled");
  }

  @Test
  void halfCloseAfterTheApplicationsCancelIsRejectedAsByAPlainCall() {
    assertMisuseReportedAsByAPlainCall(
        ClientCall::halfClose,
        channel -> {
          ClientCall<GetItemRequest, Item> call = started(channel);
          call.cancel("cancelled by the application", null);
          return call;
        },
        "call was cancelled");
  }

  @Test
  void startAfterTheApplicationsCancelIsRejectedAsByAPlainCall() {
    assertMisuseReportedAsByAPlainCall(
        call -> call.start(new RecordingListener<>(), new Metadata()),
        channel -> {
          ClientCall<GetItemRequest, Item> call = channel.newCall(GET, CallOptions.DEFAULT);
          call.cancel("cancelled by the application", null);
          return call;
        },
        "call was cancelled");
  }

  // A ---------------------------------------------------------------------------------------------

  /**
   * One call keeps just under the interceptor-wide limit; two threads then send, each on a fresh
   * call, a message that would pass it, while a third reads {@code bufferedBytes()} without pause.
   * Every one of those sends is refused by the limit, and none may show in the count even for an
   * instant.
   */
  @Test
  void bufferedBytesNeverReadsAboveTheTotalLimit() throws Exception {
    grpc.addService(new DemoItemService());
    long limit = 16 * 1024;
    RetryInterceptor retry =
        retryOn(clock).defaultPolicy(policy(3).build()).totalBufferLimit(limit).build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    Item message = item("m", 1_000);
    // UploadItems answers only at half-close: the holder stays uncommitted and keeps its bytes.
    ClientCall<Item, UploadSummary> holder = channel.newCall(UPLOAD, CallOptions.DEFAULT);
    holder.start(new RecordingListener<>(), new Metadata());
    holder.request(1);
    while (retry.bufferedBytes() + 2 * message.getSerializedSize() <= limit) {
      holder.sendMessage(message);
    }
    assertThat(retry.bufferedBytes()).isGreaterThan(limit - 2L * message.getSerializedSize());

    AtomicLong maxSeen = new AtomicLong();
    AtomicBoolean sending = new AtomicBoolean(true);
    Thread watcher =
        new Thread(
            () -> {
              while (sending.get()) {
                long now = retry.bufferedBytes();
                if (now > maxSeen.get()) {
                  maxSeen.set(now);
                }
              }
            },
            "buffer-watcher");
    watcher.setDaemon(true);
    watcher.start();
    List<Thread> senders = new ArrayList<>();
    List<Throwable> failures = new CopyOnWriteArrayList<>();
    for (int s = 0; s < 2; s++) {
      Thread sender =
          new Thread(
              () -> {
                try {
                  for (int c = 0; c < 200; c++) {
                    ClientCall<Item, UploadSummary> call =
                        channel.newCall(UPLOAD, CallOptions.DEFAULT);
                    call.start(new RecordingListener<>(), new Metadata());
                    call.sendMessage(message); // over the limit: refused
                    call.sendMessage(message);
                    call.cancel("next call", null);
                  }
                } catch (Throwable t) {
                  failures.add(t);
                }
              },
              "sender-" + s);
      sender.setDaemon(true);
      senders.add(sender);
      sender.start();
    }
    for (Thread sender : senders) {
      sender.join(EngineRegressionKit.WAIT.toMillis());
      assertThat(sender.isAlive()).as("%s finished", sender.getName()).isFalse();
    }
    sending.set(false);
    watcher.join(EngineRegressionKit.WAIT.toMillis());
    holder.cancel("test over", null);
    assertThat(failures).isEmpty();
    assertThat(maxSeen.get()).as("highest bufferedBytes() seen").isLessThanOrEqualTo(limit);
  }

  // B ---------------------------------------------------------------------------------------------

  private static final String RETRY_POLICY =
      "{\"maxAttempts\":3,\"initialBackoff\":\"0.1s\",\"maxBackoff\":\"1s\","
          + "\"backoffMultiplier\":2,\"retryableStatusCodes\":[\"UNAVAILABLE\"]}";

  /** The longest run of 'x' in the text. */
  private static int longestRunOfX(String text) {
    int longest = 0;
    Matcher run = Pattern.compile("x+").matcher(text);
    while (run.find()) {
      longest = Math.max(longest, run.end() - run.start());
    }
    return longest;
  }

  private static void assertRejectedBriefly(SoftAssertions softly, String what, String json) {
    Throwable thrown = catchThrowable(() -> RetryInterceptor.newBuilder().serviceConfig(json));
    softly.assertThat(thrown).as(what).isInstanceOf(IllegalArgumentException.class);
    if (thrown == null) {
      return;
    }
    String message = String.valueOf(thrown.getMessage());
    softly.assertThat(message.length()).as("%s: length of the message", what).isLessThanOrEqualTo(300);
    softly
        .assertThat(longestRunOfX(message))
        .as("%s: characters of the value quoted", what)
        .isLessThanOrEqualTo(100);
  }

  @Test
  void serviceConfigErrorMessagesStayShortWhateverTheInput() {
    SoftAssertions softly = new SoftAssertions();
    String huge = "x".repeat(100_000);
    String name = "{\"service\":\"" + huge + "\"}";
    assertRejectedBriefly(
        softly,
        "a service name of 100,000 characters, named twice",
        "{\"methodConfig\":[{\"name\":[" + name + "," + name + "],\"retryPolicy\":" + RETRY_POLICY + "}]}");
    assertRejectedBriefly(
        softly,
        "a 100 KB value in initialBackoff",
        "{\"methodConfig\":[{\"name\":[{}],\"retryPolicy\":"
            + RETRY_POLICY.replace("\"0.1s\"", "\"" + huge + "\"")
            + "}]}");
    assertRejectedBriefly(
        softly,
        "a 100 KB status code",
        "{\"methodConfig\":[{\"name\":[{}],\"retryPolicy\":"
            + RETRY_POLICY.replace("\"UNAVAILABLE\"", "\"" + huge + "\"")
            + "}]}");
    assertRejectedBriefly(
        softly,
        "an unknown key of 100,000 characters in retryPolicy",
        "{\"methodConfig\":[{\"name\":[{}],\"retryPolicy\":"
            + RETRY_POLICY.replace("{\"maxAttempts\"", "{\"" + huge + "\":1,\"maxAttempts\"")
            + "}]}");
    softly.assertAll();
  }

  // C ---------------------------------------------------------------------------------------------

  private static void assertNotSafeToHedge(Status status) {
    assertThat(status.getCode()).as("%s", status).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription()).contains("not safe to hedge").contains("idempotency_level");
  }

  /** CreateItem fails twice the same way through the blocking stub; GetItem still works. */
  private static void assertCreateFailsAsACallAndGetWorks(Channel channel) throws Exception {
    List<Status> statuses = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      Throwable thrown =
          catchThrowable(
              () ->
                  ItemServiceGrpc.newBlockingStub(channel)
                      .createItem(CreateItemRequest.newBuilder().setItem(item("c")).build()));
      assertThat(thrown).as("call %d", i + 1).isInstanceOf(StatusRuntimeException.class);
      Status status = ((StatusRuntimeException) thrown).getStatus();
      assertNotSafeToHedge(status);
      statuses.add(status);
    }
    assertThat(statuses.get(1).getCode()).isEqualTo(statuses.get(0).getCode());
    assertThat(statuses.get(1).getDescription()).isEqualTo(statuses.get(0).getDescription());

    // The bidi SyncItems through a plain ClientCall: one onClose, with the same kind of status.
    RecordingListener<Item> listener = new RecordingListener<>();
    ClientCall<Item, Item> sync = channel.newCall(SYNC, CallOptions.DEFAULT);
    sync.start(listener, new Metadata());
    sync.request(1);
    assertNotSafeToHedge(listener.awaitClose());
    listener.assertContractKept();

    assertThat(ItemServiceGrpc.newBlockingStub(channel).getItem(get("g")).getId()).isEqualTo("g");
  }

  @Test
  void aHedgingPolicyOnAMethodThatIsNotSafeToHedgeFailsTheCallNotInterceptCall() throws Exception {
    grpc.addService(new DemoItemService());
    HedgingPolicy hedging =
        HedgingPolicy.newBuilder().maxAttempts(2).hedgingDelay(Duration.ofMillis(100)).build();
    Channel byName =
        ClientInterceptors.intercept(
            grpc.channel(),
            retryOn(clock)
                .methodPolicy(CREATE.getFullMethodName(), hedging)
                .methodPolicy(SYNC.getFullMethodName(), hedging)
                .methodPolicy(GET, policy(3).build())
                .build());
    assertCreateFailsAsACallAndGetWorks(byName);

    String hedgingPolicy = "{\"maxAttempts\":2,\"hedgingDelay\":\"0.1s\"}";
    String json =
        "{\"methodConfig\":["
            + "{\"name\":[{\"service\":\"grpcretry.demo.v1.ItemService\",\"method\":\"CreateItem\"},"
            + "{\"service\":\"grpcretry.demo.v1.ItemService\",\"method\":\"SyncItems\"}],"
            + "\"hedgingPolicy\":" + hedgingPolicy + "},"
            + "{\"name\":[{\"service\":\"grpcretry.demo.v1.ItemService\",\"method\":\"GetItem\"}],"
            + "\"retryPolicy\":" + RETRY_POLICY + "}]}";
    Channel byConfig =
        ClientInterceptors.intercept(grpc.channel(), retryOn(clock).serviceConfig(json).build());
    assertCreateFailsAsACallAndGetWorks(byConfig);
  }
}
