package io.github.grpcretry;

import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Reads the retry settings of a gRPC service config (gRFC A6) into a {@link ParsedServiceConfig}.
 *
 * <p>Gson reads the document (strict JSON; a key given twice in one object is an error, as in
 * grpc-java). A {@link ConfigNode} walks the tree with its JSON path, checks each value's type and
 * hands it to the builder a user would call; a rule a builder enforces is written there only and
 * reported here at the path. Errors are IllegalArgumentExceptions reading {@code <JSON path>:
 * <rule>, was <value>}, for the first error in reading order: {@code methodConfig} entries, then
 * {@code retryThrottling}; in an object, unknown keys first, then the settings in code order.
 * Other keys at the top and in {@code methodConfig} entries are the channel's business and are
 * skipped; inside {@code name}, the policies and {@code retryThrottling} an unknown key is an
 * error, as it is almost always a misspelt setting, which grpc-java would ignore.
 *
 * <p>Where A6 leaves a question open, grpc-java 1.85.1's answer is taken, so that a config it
 * accepts keeps working: an entry without names is checked, then applies to nothing; a name with
 * no or an empty {@code service} is the default (then without {@code method}); an empty {@code
 * method} names the whole service; a name given twice is an error; {@code maxAttempts} must be
 * {@code >= 2} before it is capped; numbers may be strings ({@code "3"}); durations are protobuf
 * JSON durations ({@code "1.5s"}), digits beyond nanoseconds dropped. Different: {@code maxBackoff
 * < initialBackoff} lowers {@code initialBackoff}, which gives A6's delays (grpc-java waits {@code
 * initialBackoff} once); code names are read in any case; {@code hedgingDelay} is optional, as in
 * A6. Stricter, after A6 or the builders: both policies in one entry (grpc-java then fails every
 * call); {@code timeout} or {@code perAttemptRecvTimeout} {@code <= 0}; {@code backoffMultiplier
 * < 1}; empty {@code retryableStatusCodes}; names that are not service or method names (with '/'
 * or spaces: they never match a call); {@code maxTokens} not an integer up to 1000, {@code
 * tokenRatio < 0.001}.
 *
 * <p>Thread-safe: the static methods share no mutable state.
 */
final class ServiceConfigParser {
  private static final String[] RETRY_KEYS = {
    "maxAttempts", "initialBackoff", "maxBackoff", "backoffMultiplier", "retryableStatusCodes",
    "perAttemptRecvTimeout", "jitter", "idempotentRetryableStatusCodes", "hedgeOnPerAttemptTimeout",
    "idempotencyKey"
  };
  private static final String[] HEDGING_KEYS = {
    "maxAttempts", "hedgingDelay", "nonFatalStatusCodes", "idempotencyKey"
  };

  private final int maxAttemptsCap;
  private final Map<String, CallPolicy> methodPolicies = new LinkedHashMap<>();
  private final Map<String, CallPolicy> servicePolicies = new LinkedHashMap<>();
  private @Nullable CallPolicy defaultPolicy;
  /** Where each name ("" for the default, "pkg.S" or "pkg.S/M") was first given, by JSON path. */
  private final Map<String, String> namedAt = new HashMap<>();

  private ServiceConfigParser(int maxAttemptsCap) {
    if (maxAttemptsCap < 2) {
      throw new IllegalArgumentException("maxAttemptsCap must be >= 2: " + maxAttemptsCap);
    }
    this.maxAttemptsCap = maxAttemptsCap;
  }

  /**
   * Parses a service config in JSON; larger {@code maxAttempts} are lowered to {@code
   * maxAttemptsCap}.
   *
   * @throws IllegalArgumentException if the JSON is malformed, the config breaks a rule, or {@code
   *     maxAttemptsCap < 2}
   */
  static ParsedServiceConfig parse(String json, int maxAttemptsCap) {
    Objects.requireNonNull(json, "json");
    return new ServiceConfigParser(maxAttemptsCap).config(ConfigNode.read(json));
  }

  /**
   * Parses a service config in the form {@code ManagedChannelBuilder.defaultServiceConfig} takes:
   * maps with String keys, lists, Strings, Doubles (other Numbers too), Booleans and nulls.
   *
   * @throws IllegalArgumentException as {@link #parse(String, int)}, or for a value of another type
   */
  static ParsedServiceConfig parse(Map<String, ?> config, int maxAttemptsCap) {
    Objects.requireNonNull(config, "config");
    return new ServiceConfigParser(maxAttemptsCap).config(ConfigNode.of(config));
  }

  private ParsedServiceConfig config(ConfigNode config) {
    if (!config.value().isJsonObject()) {
      throw config.fail("must be a JSON object");
    }
    config.get("methodConfig").ifPresent(entries -> entries.objects().forEach(this::methodConfig));
    ConfigNode throttling = config.get("retryThrottling").object("maxTokens", "tokenRatio");
    if (!throttling.present()) {
      return new ParsedServiceConfig(methodPolicies, servicePolicies, defaultPolicy, 0, 0);
    }
    int maxTokens = throttling.get("maxTokens").required().int32();
    double tokenRatio = throttling.get("tokenRatio").required().number();
    throttling.apply(() -> RetryBudget.grpcRetryThrottling(maxTokens, tokenRatio));
    return new ParsedServiceConfig(
        methodPolicies, servicePolicies, defaultPolicy, maxTokens, tokenRatio);
  }

  private void methodConfig(ConfigNode entry) {
    List<String> names = new ArrayList<>();
    entry.get("name").ifPresent(list -> list.objects().forEach(name -> names.add(claim(name))));
    ConfigNode retry = entry.get("retryPolicy").object(RETRY_KEYS);
    ConfigNode hedging = entry.get("hedgingPolicy").object(HEDGING_KEYS);
    if (retry.present() && hedging.present()) {
      throw hedging.fail(
          "must not be set together with retryPolicy (a method retries or hedges, not both)");
    }
    ConfigNode timeout = entry.get("timeout");
    CallPolicy policy;
    if (hedging.present()) {
      HedgingPolicy.Builder builder = HedgingPolicy.newBuilder();
      timeout.ifPresent(t -> t.apply(() -> builder.timeout(t.duration())));
      policy = hedging.apply(() -> hedgingPolicy(hedging, builder));
    } else {
      // Without a policy the named methods are not retried, even where a broader entry would be.
      RetryPolicy.Builder builder = RetryPolicy.newBuilder().maxAttempts(1);
      timeout.ifPresent(t -> t.apply(() -> builder.timeout(t.duration())));
      policy = retry.present() ? retry.apply(() -> retryPolicy(retry, builder)) : builder.build();
    }
    for (String name : names) {
      if (name.isEmpty()) {
        defaultPolicy = policy;
      } else {
        (name.indexOf('/') < 0 ? servicePolicies : methodPolicies).put(name, policy);
      }
    }
  }

  /** Checks a name and claims it for its entry, so that a second claim is reported. */
  private String claim(ConfigNode name) {
    name.object("service", "method");
    String service = name.get("service").stringOr("");
    String method = name.get("method").stringOr("");
    if (service.isEmpty() && !method.isEmpty()) {
      throw name.fail("a method needs a service");
    }
    if (!service.isEmpty()) {
      name.apply(() -> Checks.serviceName("service", service));
    }
    if (!method.isEmpty()) {
      name.apply(() -> Checks.methodName("method", method));
    }
    String key = method.isEmpty() ? service : service + "/" + method;
    String first = namedAt.putIfAbsent(key, name.path());
    if (first != null) {
      String shown =
          key.isEmpty() ? "{} (the default for every method)" : ConfigNode.abbreviate(key);
      throw new IllegalArgumentException(
          name.path() + ": duplicate name " + shown + ", also in " + first);
    }
    return key;
  }

  private RetryPolicy retryPolicy(ConfigNode json, RetryPolicy.Builder builder) {
    builder.maxAttempts(
        maxAttempts(
            json,
            "a retryPolicy needs a retry; to turn retries off for these methods, leave"
                + " retryPolicy out of the methodConfig entry"));
    Duration initialBackoff = json.get("initialBackoff").required().duration();
    Duration maxBackoff = json.get("maxBackoff").required().duration();
    builder.initialBackoff(initialBackoff).maxBackoff(maxBackoff);
    if (initialBackoff.compareTo(maxBackoff) > 0) {
      builder.initialBackoff(maxBackoff); // A6's delays, as the class comment says
    }
    builder.backoffMultiplier(json.get("backoffMultiplier").required().number());
    builder.retryableStatusCodes(
        json.get("retryableStatusCodes").required().codes("retryableStatusCodes"));
    ConfigNode perAttempt = json.get("perAttemptRecvTimeout");
    perAttempt.ifPresent(t -> t.apply(() -> builder.perAttemptTimeout(t.duration())));
    json.get("jitter").ifPresent(jitter -> builder.jitter(jitter.jitter()));
    ConfigNode hedgeOnTimeout = json.get("hedgeOnPerAttemptTimeout");
    if (hedgeOnTimeout.present() && hedgeOnTimeout.bool()) {
      if (!perAttempt.present()) { // the builder's rule, in the words of a service config
        throw hedgeOnTimeout.fail("needs a perAttemptRecvTimeout in the same retryPolicy");
      }
      builder.hedgeOnPerAttemptTimeout(true);
    }
    json.get("idempotentRetryableStatusCodes")
        .ifPresent(
            codes ->
                builder.idempotentRetryableStatusCodes(
                    codes.codes("idempotentRetryableStatusCodes").toArray(new Status.Code[0])));
    json.get("idempotencyKey").ifPresent(key -> builder.idempotencyKey(key.bool()));
    return builder.build();
  }

  private HedgingPolicy hedgingPolicy(ConfigNode json, HedgingPolicy.Builder builder) {
    builder.maxAttempts(
        maxAttempts(
            json,
            "a hedgingPolicy needs a second attempt; to turn hedging off for these methods,"
                + " leave hedgingPolicy out of the methodConfig entry"));
    json.get("hedgingDelay").ifPresent(delay -> builder.hedgingDelay(delay.duration()));
    json.get("nonFatalStatusCodes")
        .ifPresent(codes -> builder.nonFatalStatusCodes(codes.codes("nonFatalStatusCodes")));
    json.get("idempotencyKey").ifPresent(key -> builder.idempotencyKey(key.bool()));
    return builder.build();
  }

  /**
   * {@code maxAttempts}, checked as grpc-java checks it, then capped. The builders take 1, which
   * grpc-java refuses in a service config: keeping its rule keeps one document good for both.
   */
  private int maxAttempts(ConfigNode policy, String why) {
    ConfigNode node = policy.get("maxAttempts").required();
    int maxAttempts = node.int32();
    if (maxAttempts < 2) {
      throw node.fail("must be >= 2 (" + why + ")");
    }
    return Math.min(maxAttempts, maxAttemptsCap);
  }
}
