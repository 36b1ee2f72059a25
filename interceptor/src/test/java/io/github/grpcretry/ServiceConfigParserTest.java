package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.gson.Gson;
import com.google.gson.reflect.TypeToken;
import io.grpc.Status;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Service configs that are valid, and what they become. Bad configs: ServiceConfigCorpusTest. */
class ServiceConfigParserTest {
  private static final int CAP = 5;

  private static ParsedServiceConfig parse(String json) {
    return ServiceConfigParser.parse(json, CAP);
  }

  /** The Map form the way grpc-java users build it from JSON: Gson, numbers as Doubles. */
  private static Map<String, ?> toMap(String json) {
    return new Gson().fromJson(json, new TypeToken<Map<String, Object>>() {}.getType());
  }

  /** A config with one methodConfig entry for every method. */
  private static String defaultEntry(String entryBody) {
    return "{\"methodConfig\": [{\"name\": [{}], " + entryBody + "}]}";
  }

  private static String retryPolicy(String extra) {
    return """
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]%s
    }\
    """
        .formatted(extra);
  }

  private static RetryPolicy.Builder expectedRetry() {
    return RetryPolicy.newBuilder()
        .maxAttempts(3)
        .initialBackoff(Duration.ofMillis(100))
        .maxBackoff(Duration.ofSeconds(1))
        .backoffMultiplier(2.0)
        .retryableStatusCodes(Status.Code.UNAVAILABLE);
  }

  @Test
  void grfcA6Example() {
    ParsedServiceConfig config =
        parse(
            """
            {
              "loadBalancingPolicy": "round_robin",
              "methodConfig": [
                {
                  "name": [{"service": "grpc.testing.TestService", "method": "UnaryCall"}],
                  "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"]
                  }
                },
                {
                  "name": [{"service": "grpc.testing.TestService", "method": "StreamingCall"}],
                  "hedgingPolicy": {
                    "maxAttempts": 4,
                    "hedgingDelay": "0.5s",
                    "nonFatalStatusCodes": ["UNAVAILABLE", "INTERNAL", "ABORTED"]
                  }
                }
              ],
              "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
            }
            """);

    assertThat(config.methodPolicies)
        .containsOnlyKeys(
            "grpc.testing.TestService/UnaryCall", "grpc.testing.TestService/StreamingCall");
    assertThat(config.methodPolicies.get("grpc.testing.TestService/UnaryCall"))
        .isEqualTo(expectedRetry().maxAttempts(4).build());
    assertThat(config.methodPolicies.get("grpc.testing.TestService/StreamingCall"))
        .isEqualTo(
            HedgingPolicy.newBuilder()
                .maxAttempts(4)
                .hedgingDelay(Duration.ofMillis(500))
                .nonFatalStatusCodes(
                    Status.Code.UNAVAILABLE, Status.Code.INTERNAL, Status.Code.ABORTED)
                .build());
    assertThat(config.servicePolicies).isEmpty();
    assertThat(config.defaultPolicy).isNull();
    assertThat(config.hasThrottling()).isTrue();
    assertThat(config.throttlingMaxTokens).isEqualTo(10);
    assertThat(config.throttlingTokenRatio).isEqualTo(0.1);
  }

  @Test
  void namesForEveryMethodAServiceOrOneMethod() {
    ParsedServiceConfig config =
        parse(
            """
            {"methodConfig": [
              {"name": [{}], "timeout": "1s"},
              {"name": [{"service": "pkg.A"}, {"service": "pkg.B", "method": ""}], "timeout": "2s"},
              {"name": [{"service": "pkg.A", "method": "Get"}], "timeout": "3s"}
            ]}
            """);

    assertThat(config.defaultPolicy).isEqualTo(timeoutOnly(1));
    assertThat(config.servicePolicies)
        .containsOnlyKeys("pkg.A", "pkg.B")
        .containsEntry("pkg.A", timeoutOnly(2))
        .containsEntry("pkg.B", timeoutOnly(2));
    assertThat(config.methodPolicies).containsOnly(Map.entry("pkg.A/Get", timeoutOnly(3)));
  }

  private static RetryPolicy timeoutOnly(int seconds) {
    return RetryPolicy.newBuilder().maxAttempts(1).timeout(Duration.ofSeconds(seconds)).build();
  }

  @Test
  void anEmptyServiceIsTheDefault() {
    assertThat(parse("{\"methodConfig\": [{\"name\": [{\"service\": \"\"}]}]}").defaultPolicy)
        .isEqualTo(RetryPolicy.noRetry());
    assertThat(
            parse("{\"methodConfig\": [{\"name\": [{\"service\": \"\", \"method\": \"\"}]}]}")
                .defaultPolicy)
        .isEqualTo(RetryPolicy.noRetry());
  }

  @Test
  void aMethodConfigWithOnlyATimeoutTurnsRetriesOffForItsNames() {
    ParsedServiceConfig config =
        parse(
            """
            {"methodConfig": [
              {"name": [{}], %s},
              {"name": [{"service": "pkg.A", "method": "Create"}], "timeout": "2.5s"},
              {"name": [{"service": "pkg.A", "method": "Delete"}]}
            ]}
            """
                .formatted(retryPolicy("")));

    assertThat(config.defaultPolicy).isEqualTo(expectedRetry().build());
    assertThat(config.methodPolicies.get("pkg.A/Create"))
        .isEqualTo(
            RetryPolicy.newBuilder().maxAttempts(1).timeout(Duration.ofMillis(2500)).build());
    assertThat(config.methodPolicies.get("pkg.A/Delete")).isEqualTo(RetryPolicy.noRetry());
  }

  @Test
  void timeoutGoesIntoThePolicy() {
    assertThat(parse(defaultEntry("\"timeout\": \"30s\", " + retryPolicy(""))).defaultPolicy)
        .isEqualTo(expectedRetry().timeout(Duration.ofSeconds(30)).build());
    assertThat(
            parse(defaultEntry("\"timeout\": \"30s\", \"hedgingPolicy\": {\"maxAttempts\": 2}"))
                .defaultPolicy)
        .isEqualTo(
            HedgingPolicy.newBuilder().maxAttempts(2).timeout(Duration.ofSeconds(30)).build());
  }

  @Test
  void maxAttemptsAboveTheCapIsLowered() {
    String json = defaultEntry(retryPolicy("").replace("\"maxAttempts\": 3", "\"maxAttempts\": 9"));

    assertThat(ServiceConfigParser.parse(json, 5).defaultPolicy.maxAttempts()).isEqualTo(5);
    assertThat(ServiceConfigParser.parse(json, 2).defaultPolicy.maxAttempts()).isEqualTo(2);
    assertThat(ServiceConfigParser.parse(json, 9).defaultPolicy.maxAttempts()).isEqualTo(9);
    assertThat(ServiceConfigParser.parse(json, 100).defaultPolicy.maxAttempts()).isEqualTo(9);
    assertThat(
            ServiceConfigParser.parse(defaultEntry("\"hedgingPolicy\": {\"maxAttempts\": 7}"), 4)
                .defaultPolicy
                .maxAttempts())
        .isEqualTo(4);
  }

  @Test
  void aCapBelowTwoIsRejected() {
    assertThatThrownBy(() -> ServiceConfigParser.parse("{}", 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxAttemptsCap must be >= 2: 1");
    assertThatThrownBy(() -> ServiceConfigParser.parse(Map.of(), 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxAttemptsCap must be >= 2: 0");
  }

  @Test
  void statusCodesByNameInAnyCaseOrByNumber() {
    RetryPolicy policy =
        (RetryPolicy)
            parse(
                    defaultEntry(
                        retryPolicy("")
                            .replace(
                                "[\"UNAVAILABLE\"]",
                                "[\"unavailable\", \"Aborted\", 4, 8.0, \"RESOURCE_EXHAUSTED\"]")))
                .defaultPolicy;

    assertThat(policy.retryableStatusCodes())
        .containsExactlyInAnyOrder(
            Status.Code.UNAVAILABLE,
            Status.Code.ABORTED,
            Status.Code.DEADLINE_EXCEEDED,
            Status.Code.RESOURCE_EXHAUSTED);
  }

  @Test
  void durationsInSeconds() {
    RetryPolicy policy =
        (RetryPolicy)
            parse(
                    """
                    {"methodConfig": [{"name": [{}], "retryPolicy": {
                      "maxAttempts": 3, "initialBackoff": "1.5s", "maxBackoff": "2s",
                      "backoffMultiplier": 1.5, "retryableStatusCodes": ["UNAVAILABLE"],
                      "perAttemptRecvTimeout": "0.000000001s"}}]}
                    """)
                .defaultPolicy;

    assertThat(policy.initialBackoff()).isEqualTo(Duration.ofMillis(1500));
    assertThat(policy.maxBackoff()).isEqualTo(Duration.ofSeconds(2));
    assertThat(policy.backoffMultiplier()).isEqualTo(1.5);
    assertThat(policy.perAttemptTimeout()).isEqualTo(Duration.ofNanos(1));
  }

  @Test
  void digitsBeyondNanosecondsAreDroppedAsInGrpcJava() {
    RetryPolicy policy =
        (RetryPolicy)
            parse(defaultEntry(retryPolicy("").replace("\"0.1s\"", "\"0.1000000009s\"")))
                .defaultPolicy;

    assertThat(policy.initialBackoff()).isEqualTo(Duration.ofMillis(100));
  }

  @Test
  void numbersWrittenAsStringsAreAcceptedAsInGrpcJava() {
    RetryPolicy policy =
        (RetryPolicy)
            parse(
                    defaultEntry(
                        retryPolicy("")
                            .replace("\"maxAttempts\": 3", "\"maxAttempts\": \"3\"")
                            .replace("\"backoffMultiplier\": 2", "\"backoffMultiplier\": \"2\"")))
                .defaultPolicy;

    assertThat(policy).isEqualTo(expectedRetry().build());
  }

  @Test
  void maxBackoffBelowInitialBackoffLowersInitialBackoff() {
    RetryPolicy policy =
        (RetryPolicy)
            parse(defaultEntry(retryPolicy("").replace("\"0.1s\"", "\"3s\""))).defaultPolicy;

    // gRFC A6: min(initialBackoff * multiplier^(n-1), maxBackoff) is maxBackoff for every retry.
    assertThat(policy.initialBackoff()).isEqualTo(Duration.ofSeconds(1));
    assertThat(policy.maxBackoff()).isEqualTo(Duration.ofSeconds(1));
  }

  @Test
  void extensionsOfThisLibrary() {
    RetryPolicy policy =
        (RetryPolicy)
            parse(
                    defaultEntry(
                        retryPolicy(
                            """
                            ,
                              "perAttemptRecvTimeout": "0.25s",
                              "jitter": "decorrelated",
                              "idempotentRetryableStatusCodes": ["ABORTED", "internal", 13]\
                            """)))
                .defaultPolicy;

    assertThat(policy)
        .isEqualTo(
            expectedRetry()
                .perAttemptTimeout(Duration.ofMillis(250))
                .jitter(Jitter.DECORRELATED)
                .idempotentRetryableStatusCodes(Status.Code.ABORTED, Status.Code.INTERNAL)
                .build());
  }

  @Test
  void jitterNamesInAnyCase() {
    for (Jitter jitter : Jitter.values()) {
      for (String name : List.of(jitter.name(), jitter.name().toLowerCase(java.util.Locale.ROOT))) {
        RetryPolicy policy =
            (RetryPolicy)
                parse(defaultEntry(retryPolicy(", \"jitter\": \"" + name + "\""))).defaultPolicy;
        assertThat(policy.jitter()).as(name).isEqualTo(jitter);
      }
    }
  }

  @Test
  void partsThatAreNotAboutRetriesAreIgnored() {
    ParsedServiceConfig config =
        parse(
            """
            {
              "loadBalancingConfig": [{"round_robin": {}}],
              "loadBalancingPolicy": "pick_first",
              "healthCheckConfig": {"serviceName": "health"},
              "someFutureSetting": {"x": [1, 2, null]},
              "methodConfig": [{
                "name": [{}],
                "waitForReady": true,
                "maxRequestMessageBytes": 1024,
                "maxResponseMessageBytes": 2048,
                "someFutureMethodSetting": "x",
                %s
              }]
            }
            """
                .formatted(retryPolicy("")));

    assertThat(config)
        .isEqualTo(new ParsedServiceConfig(Map.of(), Map.of(), expectedRetry().build(), 0, 0));
  }

  @Test
  void anEmptyConfigHasNoPolicies() {
    ParsedServiceConfig config = parse("{}");

    assertThat(config.methodPolicies).isEmpty();
    assertThat(config.servicePolicies).isEmpty();
    assertThat(config.defaultPolicy).isNull();
    assertThat(config.hasThrottling()).isFalse();
    assertThat(parse("{\"methodConfig\": []}")).isEqualTo(config);
  }

  @Test
  void anEntryWithoutNamesIsCheckedButAppliesToNothingAsInGrpcJava() {
    assertThat(parse("{\"methodConfig\": [{" + retryPolicy("") + "}]}")).isEqualTo(parse("{}"));
    assertThat(parse("{\"methodConfig\": [{\"name\": [], " + retryPolicy("") + "}]}"))
        .isEqualTo(parse("{}"));
    assertThatThrownBy(
            () ->
                parse(
                    "{\"methodConfig\": [{"
                        + retryPolicy("").replace("\"maxAttempts\": 3", "\"maxAttempts\": 1")
                        + "}]}"))
        .hasMessage(
            "methodConfig[0].retryPolicy.maxAttempts: must be >= 2 (a retryPolicy needs a retry; to"
                + " turn retries off for these methods, leave retryPolicy out of the methodConfig"
                + " entry), was 1");
  }

  @Test
  void hedgingPolicy() {
    assertThat(
            parse(
                    defaultEntry(
                        """
                        "hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "0.05s",
                          "nonFatalStatusCodes": ["UNAVAILABLE", 10]}\
                        """))
                .defaultPolicy)
        .isEqualTo(
            HedgingPolicy.newBuilder()
                .maxAttempts(3)
                .hedgingDelay(Duration.ofMillis(50))
                .nonFatalStatusCodes(Status.Code.UNAVAILABLE, Status.Code.ABORTED)
                .build());
  }

  @Test
  void idempotencyKeyIsAnExtensionOfBothPolicies() {
    assertThat(parse(defaultEntry(retryPolicy(", \"idempotencyKey\": true"))).defaultPolicy)
        .isEqualTo(expectedRetry().idempotencyKey(true).build());
    assertThat(parse(defaultEntry(retryPolicy(", \"idempotencyKey\": false"))).defaultPolicy)
        .isEqualTo(expectedRetry().build());
    assertThat(
            parse(defaultEntry("\"hedgingPolicy\": {\"maxAttempts\": 2, \"idempotencyKey\": true}"))
                .defaultPolicy)
        .isEqualTo(HedgingPolicy.newBuilder().maxAttempts(2).idempotencyKey(true).build());
  }

  @Test
  void hedgingDelayAndNonFatalCodesAreOptional() {
    assertThat(parse(defaultEntry("\"hedgingPolicy\": {\"maxAttempts\": 2}")).defaultPolicy)
        .isEqualTo(HedgingPolicy.newBuilder().maxAttempts(2).build());
    assertThat(
            parse(
                    defaultEntry(
                        "\"hedgingPolicy\": {\"maxAttempts\": 2, \"hedgingDelay\": \"0s\","
                            + " \"nonFatalStatusCodes\": []}"))
                .defaultPolicy)
        .isEqualTo(HedgingPolicy.newBuilder().maxAttempts(2).build());
  }

  @Test
  void retryThrottling() {
    ParsedServiceConfig config =
        parse("{\"retryThrottling\": {\"maxTokens\": 1000, \"tokenRatio\": 0.001}}");

    assertThat(config.throttlingMaxTokens).isEqualTo(1000);
    assertThat(config.throttlingTokenRatio).isEqualTo(0.001);
    // The budget the interceptor builds from it accepts these values.
    assertThat(
            RetryBudget.grpcRetryThrottling(
                config.throttlingMaxTokens, config.throttlingTokenRatio))
        .isNotNull();
  }

  @Test
  void theMapFormGivesWhatTheJsonFormGives() {
    String json =
        """
        {
          "loadBalancingConfig": [{"round_robin": {}}],
          "methodConfig": [
            {"name": [{}], "waitForReady": true, %s},
            {"name": [{"service": "pkg.A"}], "timeout": "2s",
             "hedgingPolicy": {"maxAttempts": 9, "hedgingDelay": "0.1s",
                               "nonFatalStatusCodes": [14, "aborted"]}},
            {"name": [{"service": "pkg.A", "method": "Get"}], "timeout": "1.5s"}
          ],
          "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
        }
        """
            .formatted(
                retryPolicy(
                    ", \"jitter\": \"FULL\", \"idempotentRetryableStatusCodes\": [10],"
                        + " \"perAttemptRecvTimeout\": \"0.5s\""));
    Map<String, ?> map = toMap(json);
    // Gson made every number a Double: 3.0 for maxAttempts, 14.0 for a status code.
    assertThat(map.get("retryThrottling")).isEqualTo(Map.of("maxTokens", 10.0, "tokenRatio", 0.1));

    ParsedServiceConfig fromJson = parse(json);

    assertThat(ServiceConfigParser.parse(map, CAP)).isEqualTo(fromJson);
    assertThat(fromJson.methodPolicies).hasSize(1);
    assertThat(fromJson.servicePolicies).hasSize(1);
    assertThat(fromJson.defaultPolicy).isNotNull();
  }

  @Test
  void theMapFormTakesOtherNumberTypes() {
    Map<String, Object> policy = new LinkedHashMap<>();
    policy.put("maxAttempts", 3);
    policy.put("initialBackoff", "0.1s");
    policy.put("maxBackoff", "1s");
    policy.put("backoffMultiplier", 2L);
    policy.put("retryableStatusCodes", List.of(14));
    Map<String, Object> entry = new LinkedHashMap<>();
    entry.put("name", List.of(Map.of()));
    entry.put("retryPolicy", policy);

    assertThat(ServiceConfigParser.parse(Map.of("methodConfig", List.of(entry)), CAP).defaultPolicy)
        .isEqualTo(expectedRetry().build());
  }
}
