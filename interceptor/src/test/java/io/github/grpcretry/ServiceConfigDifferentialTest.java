package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.CREATE;
import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.LIST;
import static io.github.grpcretry.Fixtures.PUT;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.item;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.Gson;
import com.google.gson.reflect.TypeToken;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The same service config and the same scripted failures, given to grpc-java's built-in retry (on
 * its own channel) and to this library (on a channel with retry disabled): call by call, the same
 * number of server attempts and the same final status code. Backoffs are a millisecond, so real
 * time is used on both sides; the assertions are on counts and codes only.
 *
 * <p>Where the library differs on purpose, the test says so and asserts the library's behaviour.
 */
class ServiceConfigDifferentialTest {
  private static final String SERVICE = ItemServiceGrpc.SERVICE_NAME;

  @RegisterExtension final GrpcServerExtension builtinServer = GrpcServerExtension.create();
  @RegisterExtension final GrpcServerExtension oursServer = GrpcServerExtension.create();
  private final FaultInjector builtinFaults = FaultInjector.create();
  private final FaultInjector oursFaults = FaultInjector.create();

  /** One call's result: how many attempts the server saw, and the final code. */
  private record Outcome(int attempts, Status.Code code) {}

  private static Map<String, ?> toMap(String json) {
    return new Gson().fromJson(json, new TypeToken<Map<String, Object>>() {}.getType());
  }

  private static String retryPolicy(int maxAttempts, String codes) {
    return "{\"maxAttempts\": " + maxAttempts + ", \"initialBackoff\": \"0.001s\","
        + " \"maxBackoff\": \"0.002s\", \"backoffMultiplier\": 2, \"retryableStatusCodes\": ["
        + codes + "]}";
  }

  /** Sets up both sides with one config and one script, runs the calls, returns both outcomes. */
  private List<Outcome[]> compare(String json, Consumer<FaultInjector> script, List<Call> calls) {
    Map<String, ?> config = toMap(json);
    for (GrpcServerExtension server : new GrpcServerExtension[] {builtinServer, oursServer}) {
      server.addService(new DemoItemService());
    }
    builtinServer.addServerInterceptor(builtinFaults);
    oursServer.addServerInterceptor(oursFaults);
    script.accept(builtinFaults);
    script.accept(oursFaults);
    Channel builtin =
        builtinServer.newChannel(b -> b.defaultServiceConfig(config).enableRetry());
    Channel ours =
        ClientInterceptors.intercept(
            oursServer.newChannel(b -> b.disableRetry()),
            RetryInterceptor.newBuilder().serviceConfig(json).build());
    List<Outcome[]> results = new ArrayList<>();
    for (Call call : calls) {
      results.add(
          new Outcome[] {run(call, builtin, builtinFaults), run(call, ours, oursFaults)});
    }
    return results;
  }

  private static Outcome run(Call call, Channel channel, FaultInjector faults) {
    int before = faults.attemptCount(call.method);
    Status.Code code = Status.Code.OK;
    try {
      call.body.accept(ItemServiceGrpc.newBlockingStub(channel));
    } catch (StatusRuntimeException e) {
      code = e.getStatus().getCode();
    }
    return new Outcome(faults.attemptCount(call.method) - before, code);
  }

  private record Call(MethodDescriptor<?, ?> method, Consumer<ItemServiceGrpc.ItemServiceBlockingStub> body) {}

  private static Call getCall() {
    return new Call(GET, stub -> stub.getItem(get("g")));
  }

  private static Call putCall() {
    return new Call(PUT, stub -> stub.putItem(PutItemRequest.newBuilder().setItem(item("p")).build()));
  }

  private static Call createCall() {
    return new Call(
        CREATE, stub -> stub.createItem(CreateItemRequest.newBuilder().setItem(item("c")).build()));
  }

  private static Call listCall() {
    return new Call(
        LIST,
        stub -> {
          Iterator<?> it = stub.listItems(ListItemsRequest.newBuilder().setLimit(3).build());
          while (it.hasNext()) {
            it.next();
          }
        });
  }

  private static void assertSame(List<Outcome[]> results) {
    for (int i = 0; i < results.size(); i++) {
      assertThat(results.get(i)[1]).as("call %d: library vs grpc-java", i).isEqualTo(results.get(i)[0]);
    }
  }

  @Test
  void retriesUntilSuccessAndGivesUpAfterMaxAttempts() {
    String json = "{\"methodConfig\": [{\"name\": [{}], \"retryPolicy\": "
        + retryPolicy(3, "\"UNAVAILABLE\"") + "}]}";
    List<Outcome[]> results =
        compare(
            json,
            f -> f.script(GET)
                .then(Fault.fail(Status.UNAVAILABLE), 2)
                .then(Fault.pass())
                .then(Fault.fail(Status.UNAVAILABLE), 3)
                .then(Fault.fail(Status.INVALID_ARGUMENT)),
            List.of(getCall(), getCall(), getCall()));
    assertSame(results);
    assertThat(results.get(0)[1]).isEqualTo(new Outcome(3, Status.Code.OK));
    assertThat(results.get(1)[1]).isEqualTo(new Outcome(3, Status.Code.UNAVAILABLE));
    assertThat(results.get(2)[1]).isEqualTo(new Outcome(1, Status.Code.INVALID_ARGUMENT));
  }

  @Test
  void methodBeatsServiceBeatsDefault() {
    String json = "{\"methodConfig\": ["
        + "{\"name\": [{}], \"retryPolicy\": " + retryPolicy(2, "\"UNAVAILABLE\"") + "},"
        + "{\"name\": [{\"service\": \"" + SERVICE + "\"}], \"retryPolicy\": "
        + retryPolicy(3, "\"UNAVAILABLE\"") + "},"
        + "{\"name\": [{\"service\": \"" + SERVICE + "\", \"method\": \"GetItem\"}],"
        + " \"retryPolicy\": " + retryPolicy(4, "\"UNAVAILABLE\"") + "}]}";
    List<Outcome[]> results =
        compare(
            json,
            f -> {
              f.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
              f.script(CREATE).otherwise(Fault.fail(Status.UNAVAILABLE));
            },
            List.of(getCall(), createCall()));
    assertSame(results);
    assertThat(results.get(0)[1].attempts()).isEqualTo(4);
    assertThat(results.get(1)[1].attempts()).isEqualTo(3);
  }

  @Test
  void maxAttemptsAboveFiveIsCapped() {
    String json = "{\"methodConfig\": [{\"name\": [{}], \"retryPolicy\": "
        + retryPolicy(9, "\"UNAVAILABLE\"") + "}]}";
    List<Outcome[]> results =
        compare(json, f -> f.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE)), List.of(getCall()));
    assertSame(results);
    assertThat(results.get(0)[1].attempts()).isEqualTo(5);
  }

  @Test
  void pushbackDelaysOrStopsRetries() {
    String json = "{\"methodConfig\": [{\"name\": [{}], \"retryPolicy\": "
        + retryPolicy(5, "14") + "}]}";
    List<Outcome[]> results =
        compare(
            json,
            f -> f.script(GET)
                .then(Fault.fail(Status.UNAVAILABLE).withPushback(1))
                .then(Fault.pass())
                .then(Fault.fail(Status.UNAVAILABLE).withPushback(-1))
                .then(Fault.fail(Status.UNAVAILABLE).withPushbackValue("soon")),
            List.of(getCall(), getCall(), getCall()));
    assertSame(results);
    assertThat(results.get(0)[1]).isEqualTo(new Outcome(2, Status.Code.OK));
    assertThat(results.get(1)[1]).isEqualTo(new Outcome(1, Status.Code.UNAVAILABLE));
    assertThat(results.get(2)[1]).isEqualTo(new Outcome(1, Status.Code.UNAVAILABLE));
  }

  @Test
  void retryThrottlingStopsRetriesLikeGrpcJava() {
    String json = "{\"retryThrottling\": {\"maxTokens\": 4, \"tokenRatio\": 0.5},"
        + " \"methodConfig\": [{\"name\": [{}], \"retryPolicy\": "
        + retryPolicy(5, "\"UNAVAILABLE\"") + "}]}";
    List<Call> calls = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      calls.add(getCall());
    }
    List<Outcome[]> results =
        compare(
            json,
            f -> f.script(GET)
                .then(Fault.fail(Status.UNAVAILABLE), 4)
                .then(Fault.pass(), 3)
                .otherwise(Fault.fail(Status.UNAVAILABLE)),
            calls);
    assertSame(results);
  }

  @Test
  void serverStreamsAreRetriedOnlyBeforeTheirFirstMessage() {
    String json = "{\"methodConfig\": [{\"name\": [{\"service\": \"" + SERVICE + "\"}],"
        + " \"retryPolicy\": " + retryPolicy(3, "\"UNAVAILABLE\"") + "}]}";
    List<Outcome[]> results =
        compare(
            json,
            f -> f.script(LIST)
                .then(Fault.fail(Status.UNAVAILABLE))
                .then(Fault.pass())
                .then(Fault.failAfterMessages(1, Status.UNAVAILABLE)),
            List.of(listCall(), listCall()));
    assertSame(results);
    assertThat(results.get(0)[1]).isEqualTo(new Outcome(2, Status.Code.OK));
    assertThat(results.get(1)[1]).isEqualTo(new Outcome(1, Status.Code.UNAVAILABLE));
  }

  @Test
  void aMoreSpecificEntryWithoutRetryPolicyTurnsRetriesOff() {
    String json = "{\"methodConfig\": ["
        + "{\"name\": [{}], \"retryPolicy\": " + retryPolicy(4, "\"UNAVAILABLE\"") + "},"
        + "{\"name\": [{\"service\": \"" + SERVICE + "\", \"method\": \"CreateItem\"}]}]}";
    List<Outcome[]> results =
        compare(
            json,
            f -> {
              f.script(CREATE).otherwise(Fault.fail(Status.UNAVAILABLE));
              f.script(PUT).otherwise(Fault.fail(Status.UNAVAILABLE));
            },
            List.of(createCall(), putCall()));
    assertSame(results);
    assertThat(results.get(0)[1].attempts()).isEqualTo(1);
    assertThat(results.get(1)[1].attempts()).isEqualTo(4);
  }

  @Test
  void differsOnPurposePushbackNeverMakesATerminalCodeRetryable() {
    // grpc-java retries any status that carries a pushback >= 0, even one its policy calls
    // terminal; the library lets the classifier decide first (a pushback never makes
    // PERMISSION_DENIED worth repeating).
    String json = "{\"methodConfig\": [{\"name\": [{}], \"retryPolicy\": "
        + retryPolicy(3, "\"UNAVAILABLE\"") + "}]}";
    List<Outcome[]> results =
        compare(
            json,
            f -> f.script(GET).then(Fault.fail(Status.PERMISSION_DENIED).withPushback(0), 3),
            List.of(getCall()));
    assertThat(results.get(0)[1]).isEqualTo(new Outcome(1, Status.Code.PERMISSION_DENIED));
    assertThat(results.get(0)[0]).isEqualTo(new Outcome(3, Status.Code.PERMISSION_DENIED));
  }

  @Test
  void differsOnPurposePerAttemptTimeoutsAreEnforced() {
    // gRFC A6's perAttemptRecvTimeout: grpc-java accepts the key and ignores it, so the hung
    // attempt runs into the call's timeout; the library abandons it and retries (GetItem is
    // NO_SIDE_EFFECTS, so a timed-out attempt may be repeated).
    String json = "{\"methodConfig\": [{\"name\": [{}], \"timeout\": \"1s\", \"retryPolicy\": "
        + "{\"maxAttempts\": 3, \"initialBackoff\": \"0.001s\", \"maxBackoff\": \"0.002s\","
        + " \"backoffMultiplier\": 2, \"retryableStatusCodes\": [\"UNAVAILABLE\"],"
        + " \"perAttemptRecvTimeout\": \"0.2s\"}}]}";
    List<Outcome[]> results =
        compare(json, f -> f.script(GET).then(Fault.hang()), List.of(getCall()));
    assertThat(results.get(0)[1]).isEqualTo(new Outcome(2, Status.Code.OK));
    assertThat(results.get(0)[0]).isEqualTo(new Outcome(1, Status.Code.DEADLINE_EXCEEDED));
  }

  @Test
  void differsOnPurposeStatusCodeNamesAreCaseInsensitive() {
    // grpc-java rejects the whole config for "unavailable"; the library reads it as UNAVAILABLE,
    // as gRFC A6's "case-insensitive" reading of names suggests.
    String json = "{\"methodConfig\": [{\"name\": [{}], \"retryPolicy\": "
        + retryPolicy(3, "\"unavailable\"") + "}]}";
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> builtinServer.newChannel(b -> b.defaultServiceConfig(toMap(json)).enableRetry()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("Status code unavailable is not valid");
    oursServer.addService(new DemoItemService()).addServerInterceptor(oursFaults);
    oursFaults.script(GET).then(Fault.fail(Status.UNAVAILABLE));
    Channel ours =
        ClientInterceptors.intercept(
            oursServer.newChannel(b -> b.disableRetry()),
            RetryInterceptor.newBuilder().serviceConfig(json).build());
    assertThat(run(getCall(), ours, oursFaults)).isEqualTo(new Outcome(2, Status.Code.OK));
  }

  @Test
  void differsOnPurposeTheCallersDeadlineWinsOverTheConfigsTimeout() {
    // grpc-java lets a service config's timeout shorten a caller's deadline; the library treats
    // it as the deadline of calls whose caller set none, and leaves a caller's own deadline alone.
    String json = "{\"methodConfig\": [{\"name\": [{}], \"timeout\": \"1s\", \"retryPolicy\": "
        + retryPolicy(2, "\"UNAVAILABLE\"") + "}]}";
    Call withDeadline =
        new Call(
            GET,
            stub -> stub.withDeadlineAfter(30, java.util.concurrent.TimeUnit.SECONDS).getItem(get("t")));
    Call without = getCall();
    compare(json, f -> {}, List.of(withDeadline, without));
    long builtinWith = sentTimeoutNanos(builtinFaults, 0);
    long oursWith = sentTimeoutNanos(oursFaults, 0);
    assertThat(builtinWith).isLessThanOrEqualTo(1_000_000_000L);
    assertThat(oursWith).isGreaterThan(29_000_000_000L);
    // Without a caller's deadline, both use the config's timeout.
    assertThat(sentTimeoutNanos(builtinFaults, 1)).isBetween(1L, 1_000_000_000L);
    assertThat(sentTimeoutNanos(oursFaults, 1)).isBetween(1L, 1_000_000_000L);
  }

  /** The grpc-timeout the server received on the {@code n}th GetItem attempt, in nanoseconds. */
  private static long sentTimeoutNanos(FaultInjector faults, int n) {
    String value =
        faults.attempts(GET).get(n).headers().get(
            io.grpc.Metadata.Key.of("grpc-timeout", io.grpc.Metadata.ASCII_STRING_MARSHALLER));
    assertThat(value).as("grpc-timeout").isNotNull();
    long amount = Long.parseLong(value.substring(0, value.length() - 1));
    switch (value.charAt(value.length() - 1)) {
      case 'n': return amount;
      case 'u': return amount * 1_000L;
      case 'm': return amount * 1_000_000L;
      case 'S': return amount * 1_000_000_000L;
      case 'M': return amount * 60_000_000_000L;
      case 'H': return amount * 3_600_000_000_000L;
      default: throw new AssertionError("grpc-timeout unit: " + value);
    }
  }
}
