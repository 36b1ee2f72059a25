package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.get;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.Gson;
import com.google.gson.reflect.TypeToken;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.AttemptRecord;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.internal.JsonParser;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A service config that uses this library's extensions ({@code jitter}, {@code
 * idempotentRetryableStatusCodes}) and {@code perAttemptRecvTimeout} still works in grpc-java's own
 * retry: one document can configure both. grpc-java 1.85.1 skips keys it does not know inside
 * {@code retryPolicy}; this test fails if a later version starts rejecting them, or stops applying
 * the policy because of them.
 */
class ServiceConfigGrpcJavaCompatTest {
  private static final String CONFIG =
      """
      {
        "methodConfig": [{
          "name": [{"service": "grpcretry.demo.v1.ItemService"}],
          "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.01s",
            "maxBackoff": "0.05s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
            "perAttemptRecvTimeout": "10s",
            "jitter": "DECORRELATED",
            "idempotentRetryableStatusCodes": ["ABORTED", "INTERNAL"]
          }
        }]
      }
      """;

  private final FaultInjector faults = FaultInjector.create();

  @RegisterExtension
  final GrpcServerExtension grpc =
      GrpcServerExtension.create().addService(new DemoItemService()).addServerInterceptor(faults);

  /** The two ways grpc-java users turn JSON into defaultServiceConfig's Map. */
  static Stream<Arguments> jsonToMap() {
    Function<String, Map<String, ?>> grpcJsonParser =
        json -> {
          try {
            @SuppressWarnings("unchecked")
            Map<String, ?> map = (Map<String, ?>) JsonParser.parse(json);
            return map;
          } catch (IOException e) {
            throw new AssertionError(e);
          }
        };
    Function<String, Map<String, ?>> gson =
        json -> new Gson().fromJson(json, new TypeToken<Map<String, Object>>() {}.getType());
    return Stream.of(
        Arguments.of("io.grpc.internal.JsonParser", grpcJsonParser), Arguments.of("Gson", gson));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("jsonToMap")
  void grpcJavaRetriesWithAConfigThatUsesOurExtensions(
      String converter, Function<String, Map<String, ?>> toMap) {
    Map<String, ?> config = toMap.apply(CONFIG);
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE)).otherwise(Fault.pass());
    Channel channel = grpc.newChannel(b -> b.defaultServiceConfig(config).enableRetry());

    assertThat(ItemServiceGrpc.newBlockingStub(channel).getItem(get("a")).getId()).isEqualTo("a");

    // Two attempts, the second marked by grpc-java as a retry: its retry policy was applied.
    assertThat(faults.attempts(GET))
        .extracting(AttemptRecord::previousAttempts)
        .containsExactly(0, 1);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("jsonToMap")
  void theSameConfigGivesThisLibraryItsExtensions(
      String converter, Function<String, Map<String, ?>> toMap) {
    RetryPolicy expected =
        RetryPolicy.newBuilder()
            .maxAttempts(3)
            .initialBackoff(Duration.ofMillis(10))
            .maxBackoff(Duration.ofMillis(50))
            .backoffMultiplier(2)
            .retryableStatusCodes(Status.Code.UNAVAILABLE)
            .perAttemptTimeout(Duration.ofSeconds(10))
            .jitter(Jitter.DECORRELATED)
            .idempotentRetryableStatusCodes(Status.Code.ABORTED, Status.Code.INTERNAL)
            .build();

    ParsedServiceConfig fromJson = ServiceConfigParser.parse(CONFIG, 5);

    assertThat(fromJson.servicePolicies)
        .containsOnly(Map.entry(ItemServiceGrpc.SERVICE_NAME, expected));
    assertThat(ServiceConfigParser.parse(toMap.apply(CONFIG), 5)).isEqualTo(fromJson);
  }
}
