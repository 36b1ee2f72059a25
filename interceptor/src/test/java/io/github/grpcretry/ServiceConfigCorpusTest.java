package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad service configs and the exact message each gets: the JSON path, the rule and the value. Every
 * one is an IllegalArgumentException; nothing else may escape the parser, which the seeded fuzz
 * test at the end checks on mutations of valid configs.
 */
class ServiceConfigCorpusTest {
  private static final String POLICY =
      "\"maxAttempts\": 3, \"initialBackoff\": \"0.1s\", \"maxBackoff\": \"1s\","
          + " \"backoffMultiplier\": 2, \"retryableStatusCodes\": [\"UNAVAILABLE\"]";
  private static final String RP = "methodConfig[0].retryPolicy";
  private static final String NEEDS_A_RETRY =
      "must be >= 2 (a retryPolicy needs a retry; to turn retries off for these methods, leave"
          + " retryPolicy out of the methodConfig entry)";
  private static final String MULTIPLIER_RULE =
      "must be a finite number >= 1 (below 1, each backoff would be shorter than the one before;"
          + " 1 keeps it constant)";

  /** A config whose only entry, for every method, has this retryPolicy body. */
  private static String retry(String body) {
    return "{\"methodConfig\": [{\"name\": [{}], \"retryPolicy\": {" + body + "}}]}";
  }

  /** The valid policy with one field's value replaced, or removed when value is null. */
  private static String retryWith(String field, String value) {
    String body =
        POLICY.replaceAll(
            "\"" + field + "\": (\"[^\"]*\"|\\[[^]]*]|[^,]+)",
            value == null
                ? ""
                : "\"" + field + "\": " + java.util.regex.Matcher.quoteReplacement(value));
    body = body.replace(", ,", ",").replaceAll("^, |, $", "");
    return retry(body);
  }

  private static String hedging(String body) {
    return "{\"methodConfig\": [{\"name\": [{}], \"hedgingPolicy\": {" + body + "}}]}";
  }

  private static String entry(String body) {
    return "{\"methodConfig\": [{" + body + "}]}";
  }

  static Stream<Arguments> badConfigs() {
    return Stream.of(
        // Not JSON.
        Arguments.of(
            "", "service config is not valid JSON: End of input at line 1 column 1 path $"),
        Arguments.of(
            "{\"methodConfig\": [",
            "service config is not valid JSON: End of input at line 1 column 19 path"
                + " $.methodConfig[0]"),
        Arguments.of(
            "{methodConfig: []}",
            "service config is not valid JSON: malformed JSON at line 1 column 3 path $."),
        Arguments.of(
            "{\"a\": NaN}",
            "service config is not valid JSON: malformed JSON at line 1 column 7 path $.a"),
        Arguments.of(
            "{\"a\": 1} {\"b\": 2}",
            "service config is not valid JSON: malformed JSON at line 1 column 11 path $"),
        Arguments.of(
            "{\"methodConfig\": [], \"methodConfig\": []}",
            "methodConfig: must appear only once in its object, was []"),
        Arguments.of(
            "{\"methodConfig\": [{}, {\"name\": [{\"service\": \"a.B\","
                + " \"service\": \"a.C\"}]}]}",
            "methodConfig[1].name[0].service: must appear only once in its object, was \"a.C\""),
        Arguments.of(
            "{\"loadBalancingConfig\": [{\"x y\": {}, \"x y\": {\"z\": 1}}]}",
            "loadBalancingConfig[0][\"x y\"]: must appear only once in its object, was {\"z\":1}"),
        // The document and its two parts.
        Arguments.of("[]", "$: must be a JSON object, was []"),
        Arguments.of("\"config\"", "$: must be a JSON object, was \"config\""),
        Arguments.of("{\"methodConfig\": {}}", "methodConfig: must be an array of objects, was {}"),
        Arguments.of(
            "{\"methodConfig\": null}", "methodConfig: must be an array of objects, was null"),
        Arguments.of(
            "{\"methodConfig\": [\"x\"]}", "methodConfig[0]: must be an object, was \"x\""),
        Arguments.of("{\"retryThrottling\": []}", "retryThrottling: must be an object, was []"),
        // Names.
        Arguments.of(
            entry("\"name\": {\"service\": \"pkg.Svc\"}"),
            "methodConfig[0].name: must be an array of objects, was {\"service\":\"pkg.Svc\"}"),
        Arguments.of(
            entry("\"name\": [\"pkg.Svc\"]"),
            "methodConfig[0].name[0]: must be an object, was \"pkg.Svc\""),
        Arguments.of(
            entry("\"name\": [{\"service\": 5}]"),
            "methodConfig[0].name[0].service: must be a string, was 5"),
        Arguments.of(
            entry("\"name\": [{\"service\": \"pkg.Svc\", \"methods\": \"Get\"}]"),
            "methodConfig[0].name[0].methods: is not a known key (known: service, method), was"
                + " \"Get\""),
        Arguments.of(
            entry("\"name\": [{\"service\": \"pkg.Svc \"}]"),
            "methodConfig[0].name[0].service: must be a full service name such as \"pkg.Service\":"
                + " names joined by dots, without '/' or spaces, was \"pkg.Svc \""),
        Arguments.of(
            entry("\"name\": [{\"service\": \"pkg.Svc\", \"method\": \"Get/Item\"}]"),
            "methodConfig[0].name[0].method: must be a method name such as \"GetItem\", without '/'"
                + " or spaces, was \"Get/Item\""),
        Arguments.of(
            entry("\"name\": [{\"method\": \"Get\"}]"),
            "methodConfig[0].name[0]: a method needs a service, was {\"method\":\"Get\"}"),
        Arguments.of(
            entry(
                "\"name\": [{\"service\": \"pkg.Svc\", \"method\": \"Get\"},"
                    + " {\"service\": \"pkg.Svc\", \"method\": \"Get\"}]"),
            "methodConfig[0].name[1]: duplicate name pkg.Svc/Get, also in methodConfig[0].name[0]"),
        Arguments.of(
            "{\"methodConfig\": [{\"name\": [{\"service\": \"pkg.Svc\"}]},"
                + " {\"name\": [{\"service\": \"pkg.Svc\", \"method\": \"\"}]}]}",
            "methodConfig[1].name[0]: duplicate name pkg.Svc, also in methodConfig[0].name[0]"),
        Arguments.of(
            "{\"methodConfig\": [{\"name\": [{}]}, {\"name\": [{\"service\": \"\"}]}]}",
            "methodConfig[1].name[0]: duplicate name {} (the default for every method), also in"
                + " methodConfig[0].name[0]"),
        // One entry.
        Arguments.of(
            entry(
                "\"name\": [{}], \"retryPolicy\": {"
                    + POLICY
                    + "}, \"hedgingPolicy\": {\"maxAttempts\": 2}"),
            "methodConfig[0].hedgingPolicy: must not be set together with retryPolicy (a method"
                + " retries or hedges, not both), was {\"maxAttempts\":2}"),
        Arguments.of(
            entry("\"name\": [{}], \"timeout\": \"0s\""),
            "methodConfig[0].timeout: must be > 0, was \"0s\""),
        Arguments.of(
            entry("\"name\": [{}], \"timeout\": 5"),
            "methodConfig[0].timeout: must be a duration in seconds such as \"1.5s\", was 5"),
        Arguments.of(
            entry("\"name\": [{}], \"retryPolicy\": \"fast\""),
            RP + ": must be an object, was \"fast\""),
        Arguments.of(
            entry("\"name\": [{}], \"retryPolicy\": null"), RP + ": must be an object, was null"),
        // retryPolicy: required fields.
        Arguments.of(retryWith("maxAttempts", null), RP + ".maxAttempts: is required, was missing"),
        Arguments.of(
            retryWith("initialBackoff", null), RP + ".initialBackoff: is required, was missing"),
        Arguments.of(retryWith("maxBackoff", null), RP + ".maxBackoff: is required, was missing"),
        Arguments.of(
            retryWith("backoffMultiplier", null),
            RP + ".backoffMultiplier: is required, was missing"),
        Arguments.of(
            retryWith("retryableStatusCodes", null),
            RP + ".retryableStatusCodes: is required, was missing"),
        // retryPolicy: maxAttempts.
        Arguments.of(
            retryWith("maxAttempts", "1"), RP + ".maxAttempts: " + NEEDS_A_RETRY + ", was 1"),
        Arguments.of(
            retryWith("maxAttempts", "-3"), RP + ".maxAttempts: " + NEEDS_A_RETRY + ", was -3"),
        Arguments.of(
            retryWith("maxAttempts", "\"three\""),
            RP + ".maxAttempts: must be a 32-bit integer, was \"three\""),
        Arguments.of(
            retryWith("maxAttempts", "2.5"),
            RP + ".maxAttempts: must be a 32-bit integer, was 2.5"),
        Arguments.of(
            retryWith("maxAttempts", "1e10"),
            RP + ".maxAttempts: must be a 32-bit integer, was 1e10"),
        Arguments.of(
            retryWith("maxAttempts", "[3]"),
            RP + ".maxAttempts: must be a 32-bit integer, was [3]"),
        Arguments.of(
            retryWith("maxAttempts", "true"),
            RP + ".maxAttempts: must be a 32-bit integer, was true"),
        Arguments.of(
            retryWith("maxAttempts", "null"),
            RP + ".maxAttempts: must be a 32-bit integer, was null"),
        // retryPolicy: durations.
        Arguments.of(
            retryWith("initialBackoff", "\"1m\""),
            RP + ".initialBackoff: must be a duration in seconds such as \"1.5s\", was \"1m\""),
        Arguments.of(
            retryWith("initialBackoff", "\"abc\""),
            RP + ".initialBackoff: must be a duration in seconds such as \"1.5s\", was \"abc\""),
        Arguments.of(
            retryWith("initialBackoff", "0.1"),
            RP + ".initialBackoff: must be a duration in seconds such as \"1.5s\", was 0.1"),
        Arguments.of(
            retryWith("initialBackoff", "\"-1s\""),
            RP + ".initialBackoff: must be > 0, was \"-1s\""),
        Arguments.of(
            retryWith("maxBackoff", "\"0s\""), RP + ".maxBackoff: must be > 0, was \"0s\""),
        Arguments.of(
            retryWith("maxBackoff", "\"99999999999s\""),
            RP
                + ".maxBackoff: must be at most 9223372036.854775807s (about 292 years), was"
                + " \"99999999999s\""),
        Arguments.of(
            retryWith("maxBackoff", "\"999999999999s\""),
            RP
                + ".maxBackoff: must be a duration in seconds such as \"1.5s\", was"
                + " \"999999999999s\""),
        // retryPolicy: backoffMultiplier.
        Arguments.of(
            retryWith("backoffMultiplier", "0"),
            RP + ".backoffMultiplier: " + MULTIPLIER_RULE + ", was 0"),
        Arguments.of(
            retryWith("backoffMultiplier", "-2"),
            RP + ".backoffMultiplier: " + MULTIPLIER_RULE + ", was -2"),
        Arguments.of(
            retryWith("backoffMultiplier", "0.5"),
            RP + ".backoffMultiplier: " + MULTIPLIER_RULE + ", was 0.5"),
        Arguments.of(
            retryWith("backoffMultiplier", "\"NaN\""),
            RP + ".backoffMultiplier: " + MULTIPLIER_RULE + ", was \"NaN\""),
        Arguments.of(
            retryWith("backoffMultiplier", "\"Infinity\""),
            RP + ".backoffMultiplier: " + MULTIPLIER_RULE + ", was \"Infinity\""),
        Arguments.of(
            retryWith("backoffMultiplier", "1e999"),
            RP + ".backoffMultiplier: must be a finite number, was 1e999"),
        Arguments.of(
            retryWith("backoffMultiplier", "\"two\""),
            RP + ".backoffMultiplier: must be a finite number, was \"two\""),
        Arguments.of(
            retryWith("backoffMultiplier", "{}"),
            RP + ".backoffMultiplier: must be a finite number, was {}"),
        // retryPolicy: status codes.
        Arguments.of(
            retryWith("retryableStatusCodes", "\"UNAVAILABLE\""),
            RP + ".retryableStatusCodes: must be an array of status codes, was \"UNAVAILABLE\""),
        Arguments.of(
            retryWith("retryableStatusCodes", "[]"),
            RP + ".retryableStatusCodes: must name at least one status code, was []"),
        Arguments.of(
            retryWith("retryableStatusCodes", "[\"NOPE\"]"),
            RP
                + ".retryableStatusCodes[0]: must be a status code name or a number 0..16, was"
                + " \"NOPE\""),
        Arguments.of(
            retryWith("retryableStatusCodes", "[14, 17]"),
            RP + ".retryableStatusCodes[1]: must be a status code name or a number 0..16, was 17"),
        Arguments.of(
            retryWith("retryableStatusCodes", "[-1]"),
            RP + ".retryableStatusCodes[0]: must be a status code name or a number 0..16, was -1"),
        Arguments.of(
            retryWith("retryableStatusCodes", "[14.5]"),
            RP
                + ".retryableStatusCodes[0]: must be a status code name or a number 0..16, was"
                + " 14.5"),
        Arguments.of(
            retryWith("retryableStatusCodes", "[\"14\"]"),
            RP
                + ".retryableStatusCodes[0]: must be a status code name or a number 0..16, was"
                + " \"14\""),
        Arguments.of(
            retryWith("retryableStatusCodes", "[\"UNAVAILABLE\", null]"),
            RP
                + ".retryableStatusCodes[1]: must be a status code name or a number 0..16, was"
                + " null"),
        Arguments.of(
            retryWith("retryableStatusCodes", "[[14]]"),
            RP
                + ".retryableStatusCodes[0]: must be a status code name or a number 0..16, was"
                + " [14]"),
        Arguments.of(
            retryWith("retryableStatusCodes", "[\"UNAVAILABLE\", \"OK\"]"),
            RP + ".retryableStatusCodes[1]: must not be OK, was \"OK\""),
        Arguments.of(
            retryWith("retryableStatusCodes", "[0]"),
            RP + ".retryableStatusCodes[0]: must not be OK, was 0"),
        // retryPolicy: optional fields and extensions.
        Arguments.of(
            retry(POLICY + ", \"perAttemptRecvTimeout\": \"0s\""),
            RP + ".perAttemptRecvTimeout: must be > 0, was \"0s\""),
        Arguments.of(
            retry(POLICY + ", \"jitter\": \"RANDOM\""),
            RP + ".jitter: must be one of A6, FULL, EQUAL, DECORRELATED, was \"RANDOM\""),
        Arguments.of(retry(POLICY + ", \"jitter\": 1"), RP + ".jitter: must be a string, was 1"),
        Arguments.of(
            retry(POLICY + ", \"perAttemptRecvTimeout\": \"1s\", \"hedgeOnPerAttemptTimeout\": 1"),
            RP + ".hedgeOnPerAttemptTimeout: must be true or false, was 1"),
        Arguments.of(
            retry(POLICY + ", \"hedgeOnPerAttemptTimeout\": true"),
            RP
                + ".hedgeOnPerAttemptTimeout: needs a perAttemptRecvTimeout in the same"
                + " retryPolicy, was true"),
        Arguments.of(
            retry(POLICY + ", \"idempotentRetryableStatusCodes\": [\"ok\"]"),
            RP + ".idempotentRetryableStatusCodes[0]: must not be OK, was \"ok\""),
        Arguments.of(
            retry(POLICY + ", \"idempotencyKey\": 1"),
            RP + ".idempotencyKey: must be true or false, was 1"),
        // retryPolicy: keys that are not retryPolicy settings.
        Arguments.of(
            retry(POLICY + ", \"maxAttempt\": 4"),
            RP
                + ".maxAttempt: is not a known key (known: maxAttempts, initialBackoff, maxBackoff,"
                + " backoffMultiplier, retryableStatusCodes, perAttemptRecvTimeout, jitter,"
                + " idempotentRetryableStatusCodes, hedgeOnPerAttemptTimeout, idempotencyKey),"
                + " was 4"),
        Arguments.of(
            retry(POLICY.replace("maxAttempts", "max_attempts")),
            RP
                + ".max_attempts: is not a known key (known: maxAttempts, initialBackoff,"
                + " maxBackoff, backoffMultiplier, retryableStatusCodes, perAttemptRecvTimeout,"
                + " jitter, idempotentRetryableStatusCodes, hedgeOnPerAttemptTimeout,"
                + " idempotencyKey), was 3"),
        Arguments.of(
            retry(POLICY + ", \"max tokens\": 4"),
            RP
                + "[\"max tokens\"]: is not a known key (known: maxAttempts, initialBackoff,"
                + " maxBackoff, backoffMultiplier, retryableStatusCodes, perAttemptRecvTimeout,"
                + " jitter, idempotentRetryableStatusCodes, hedgeOnPerAttemptTimeout,"
                + " idempotencyKey), was 4"),
        // hedgingPolicy.
        Arguments.of(
            hedging("\"hedgingDelay\": \"1s\""),
            "methodConfig[0].hedgingPolicy.maxAttempts: is required, was missing"),
        Arguments.of(
            hedging("\"maxAttempts\": 1"),
            "methodConfig[0].hedgingPolicy.maxAttempts: must be >= 2 (a hedgingPolicy needs a"
                + " second attempt; to turn hedging off for these methods, leave hedgingPolicy out"
                + " of the methodConfig entry), was 1"),
        Arguments.of(
            hedging("\"maxAttempts\": 3, \"hedgingDelay\": \"-0.5s\""),
            "methodConfig[0].hedgingPolicy.hedgingDelay: must be >= 0, was \"-0.5s\""),
        Arguments.of(
            hedging("\"maxAttempts\": 3, \"nonFatalStatusCodes\": [\"ABORTED\", \"OK\"]"),
            "methodConfig[0].hedgingPolicy.nonFatalStatusCodes[1]: must not be OK, was \"OK\""),
        Arguments.of(
            hedging("\"maxAttempts\": 3, \"delay\": \"1s\""),
            "methodConfig[0].hedgingPolicy.delay: is not a known key (known: maxAttempts,"
                + " hedgingDelay, nonFatalStatusCodes, idempotencyKey), was \"1s\""),
        Arguments.of(
            hedging("\"maxAttempts\": 3, \"idempotencyKey\": \"yes\""),
            "methodConfig[0].hedgingPolicy.idempotencyKey: must be true or false, was \"yes\""),
        // retryThrottling.
        Arguments.of(
            "{\"retryThrottling\": {\"tokenRatio\": 0.1}}",
            "retryThrottling.maxTokens: is required, was missing"),
        Arguments.of(
            "{\"retryThrottling\": {\"maxTokens\": 10}}",
            "retryThrottling.tokenRatio: is required, was missing"),
        Arguments.of(
            "{\"retryThrottling\": {\"maxTokens\": 0, \"tokenRatio\": 0.1}}",
            "retryThrottling.maxTokens: must be in (0, 1000], was 0"),
        Arguments.of(
            "{\"retryThrottling\": {\"maxTokens\": 1001, \"tokenRatio\": 0.1}}",
            "retryThrottling.maxTokens: must be in (0, 1000], was 1001"),
        Arguments.of(
            "{\"retryThrottling\": {\"maxTokens\": 10.5, \"tokenRatio\": 0.1}}",
            "retryThrottling.maxTokens: must be a 32-bit integer, was 10.5"),
        Arguments.of(
            "{\"retryThrottling\": {\"maxTokens\": 10, \"tokenRatio\": 0}}",
            "retryThrottling.tokenRatio: must be a finite number > 0, was 0"),
        Arguments.of(
            "{\"retryThrottling\": {\"maxTokens\": 10, \"tokenRatio\": \"NaN\"}}",
            "retryThrottling.tokenRatio: must be a finite number > 0, was \"NaN\""),
        Arguments.of(
            "{\"retryThrottling\": {\"maxTokens\": 10, \"tokenRatio\": 0.0005}}",
            "retryThrottling.tokenRatio: must be >= 0.001 (it is kept to 3 decimals), was 0.0005"),
        Arguments.of(
            "{\"retryThrottling\": {\"maxTokens\": 10, \"tokenRatio\": 0.1, \"maxToken\": 5}}",
            "retryThrottling.maxToken: is not a known key (known: maxTokens, tokenRatio), was 5"),
        // The first error in the document wins.
        Arguments.of(
            "{\"methodConfig\": [{\"name\": [{}], \"retryPolicy\": {"
                + POLICY
                + "}},"
                + " {\"name\": [{}], \"timeout\": \"-1s\"}],"
                + " \"retryThrottling\": {\"maxTokens\": 0, \"tokenRatio\": 0.1}}",
            "methodConfig[1].name[0]: duplicate name {} (the default for every method), also in"
                + " methodConfig[0].name[0]"));
  }

  @ParameterizedTest
  @MethodSource("badConfigs")
  void badConfigIsRejectedWithPathRuleAndValue(String json, String message) {
    assertThatThrownBy(() -> ServiceConfigParser.parse(json, 5))
        .isExactlyInstanceOf(IllegalArgumentException.class)
        .hasMessage(message);
  }

  static Stream<Arguments> badMaps() {
    Map<Object, Object> withIntKey = new LinkedHashMap<>();
    withIntKey.put("name", List.of(Map.of()));
    withIntKey.put(7, "x");
    return Stream.of(
        Arguments.of(
            Map.of("methodConfig", List.of(policyMap("maxAttempts", 5.5))),
            RP + ".maxAttempts: must be a 32-bit integer, was 5.5"),
        Arguments.of(
            Map.of("methodConfig", List.of(policyMap("maxAttempts", Double.NaN))),
            RP + ".maxAttempts: must be a finite number, was NaN"),
        Arguments.of(
            Map.of(
                "methodConfig", List.of(policyMap("backoffMultiplier", Double.POSITIVE_INFINITY))),
            RP + ".backoffMultiplier: must be a finite number, was Infinity"),
        Arguments.of(
            Map.of("methodConfig", List.of(policyMap("maxAttempts", 1.0))),
            RP + ".maxAttempts: " + NEEDS_A_RETRY + ", was 1.0"),
        Arguments.of(
            Map.of("methodConfig", List.of(withIntKey)),
            "methodConfig[0]: keys must be strings, was 7"),
        Arguments.of(
            Map.of(
                "methodConfig",
                List.of(Map.of("name", List.of(Map.of()), "waitForReady", new Object()))),
            "methodConfig[0].waitForReady: must be a Map, List, String, Double, Boolean or null,"
                + " was a java.lang.Object"),
        Arguments.of(
            Map.of("methodConfig", "[]"), "methodConfig: must be an array of objects, was \"[]\""));
  }

  /** A methodConfig entry in the Map form with a valid retryPolicy but for one value. */
  private static Map<String, Object> policyMap(String key, Object value) {
    Map<String, Object> policy = new LinkedHashMap<>();
    policy.put("maxAttempts", 3.0);
    policy.put("initialBackoff", "0.1s");
    policy.put("maxBackoff", "1s");
    policy.put("backoffMultiplier", 2.0);
    policy.put("retryableStatusCodes", List.of("UNAVAILABLE"));
    policy.put(key, value);
    Map<String, Object> entry = new LinkedHashMap<>();
    entry.put("name", List.of(Map.of()));
    entry.put("retryPolicy", policy);
    return entry;
  }

  @ParameterizedTest
  @MethodSource("badMaps")
  @SuppressWarnings("unchecked")
  void badMapIsRejectedWithPathRuleAndValue(Map<?, ?> config, String message) {
    assertThatThrownBy(() -> ServiceConfigParser.parse((Map<String, ?>) config, 5))
        .isExactlyInstanceOf(IllegalArgumentException.class)
        .hasMessage(message);
  }

  @Test
  void aMapThatContainsItselfIsRejected() {
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("loadBalancingConfig", config);

    assertThatThrownBy(() -> ServiceConfigParser.parse(config, 5))
        .isExactlyInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("loadBalancingConfig.loadBalancingConfig.")
        .hasMessageEndingWith(": must be nested at most 255 levels deep, was deeper");
  }

  @Test
  void jsonNestedDeeperThanGsonAllowsIsNotValidJson() {
    String deep = "[".repeat(300) + "]".repeat(300);

    assertThatThrownBy(() -> ServiceConfigParser.parse("{\"x\": " + deep + "}", 5))
        .isExactlyInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("service config is not valid JSON: Nesting limit 255 reached");
  }

  /**
   * Mutations of valid configs, as text and as values, with a fixed seed: whatever comes out is
   * accepted or rejected with an IllegalArgumentException whose message follows the pattern.
   */
  @Test
  void mutatedConfigsNeverCrashTheParser() {
    String valid =
        "{\"methodConfig\": [{\"name\": [{\"service\": \"a.B\"}, {}], \"timeout\": \"2s\","
            + " \"retryPolicy\": {"
            + POLICY
            + ", \"jitter\": \"full\", \"idempotentRetryableStatusCodes\": [10],"
            + " \"perAttemptRecvTimeout\": \"0.5s\"}},"
            + " {\"name\": [{\"service\": \"a.B\", \"method\": \"M\"}], \"hedgingPolicy\":"
            + " {\"maxAttempts\": 3, \"hedgingDelay\": \"0.1s\", \"nonFatalStatusCodes\": [14]}}],"
            + " \"retryThrottling\": {\"maxTokens\": 10, \"tokenRatio\": 0.1}}";
    String alphabet = "{}[]\":,0123456789.-+eE sabxyzNaI\\";
    String[] values = {
      "null",
      "true",
      "-1",
      "0",
      "1",
      "2.5",
      "17",
      "1e400",
      "\"\"",
      "\"x\"",
      "\"-1s\"",
      "\"0s\"",
      "\"NaN\"",
      "\"OK\"",
      "[]",
      "{}",
      "[null]",
      "[{}]",
      "99999999999999999999"
    };
    Random random = new Random(20240601);
    List<String> mutants = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      StringBuilder text = new StringBuilder(valid);
      for (int k = 0; k <= random.nextInt(3); k++) {
        int at = random.nextInt(text.length());
        switch (random.nextInt(3)) {
          case 0 -> text.deleteCharAt(at);
          case 1 -> text.insert(at, alphabet.charAt(random.nextInt(alphabet.length())));
          default -> text.setCharAt(at, alphabet.charAt(random.nextInt(alphabet.length())));
        }
      }
      mutants.add(text.toString());
      // Replace one value (a string, a number or a bracketed group) with another of any type.
      java.util.regex.Matcher value =
          java.util.regex.Pattern.compile(": (\"[^\"]*\"|[-0-9.e]+|\\[[^]\\[]*])").matcher(valid);
      List<int[]> spans = new ArrayList<>();
      while (value.find()) {
        spans.add(new int[] {value.start(1), value.end(1)});
      }
      int[] span = spans.get(random.nextInt(spans.size()));
      mutants.add(
          valid.substring(0, span[0])
              + values[random.nextInt(values.length)]
              + valid.substring(span[1]));
    }
    int accepted = 0;
    for (String mutant : mutants) {
      try {
        ServiceConfigParser.parse(mutant, 5);
        accepted++;
      } catch (IllegalArgumentException e) {
        assertThat(e.getMessage())
            .as(mutant)
            .matches("(?s)(service config is not valid JSON: .+|.+?: .+, (was .+|also in .+))");
      } catch (RuntimeException | Error e) {
        fail("the parser crashed on " + mutant, e);
      }
    }
    assertThat(accepted).as("some mutants are still valid configs").isPositive();
  }
}
