package io.github.grpcretry;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.github.grpcretry.config.v1.MethodConfig;
import io.github.grpcretry.config.v1.Name;
import io.github.grpcretry.config.v1.RetryThrottlingPolicy;
import io.github.grpcretry.config.v1.ServiceConfig;
import io.grpc.Status;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;

/**
 * Reads the retry settings of a gRPC service config (gRFC A6) into a {@link ParsedServiceConfig}.
 *
 * <p>The schema is {@code grpcretry/config/v1/service_config.proto}. The document is first read
 * into a JSON tree (strict JSON, duplicate keys rejected as grpc-java's {@code JsonParser} does);
 * then each key is converted on its own with protobuf's {@link JsonFormat}, so that a value of the
 * wrong type is reported with its JSON path; then the rules below are checked. Every error is an
 * {@link IllegalArgumentException} whose message reads {@code <JSON path>: <rule>, was <value>},
 * for the first error found: type errors of the whole document in document order, then the rules of
 * each {@code methodConfig} entry in order, then {@code retryThrottling}.
 *
 * <p>Only {@code methodConfig} and {@code retryThrottling} are read. Other top-level keys ({@code
 * loadBalancingConfig}, {@code healthCheckConfig}, ...) and the keys of a {@code methodConfig}
 * entry that are not about retries ({@code waitForReady}, {@code maxRequestMessageBytes}, ...) are
 * the channel's business and are skipped. Inside {@code name} entries, {@code retryPolicy}, {@code
 * hedgingPolicy} and {@code retryThrottling}, an unknown key is an error: it is almost always a
 * misspelt retry setting, which grpc-java would silently ignore.
 *
 * <p>Where grpc-java 1.85.1 ({@code ManagedChannelServiceConfig}, {@code ServiceConfigUtil})
 * decides a question that gRFC A6 leaves open, this parser decides it the same way, so that a
 * config grpc-java accepts keeps working here:
 *
 * <ul>
 *   <li>A {@code methodConfig} entry without names (no {@code name} key, or an empty list) is
 *       checked like any other and then applies to no method.
 *   <li>A name whose {@code service} is absent or empty is the default for every method, and then
 *       must not have a {@code method}; a {@code method} that is empty names the whole service.
 *   <li>The same default, service or method named twice, in one entry or in two, is an error.
 *   <li>{@code maxAttempts} is checked ({@code >= 2}) before it is capped; numbers given as JSON
 *       strings ({@code "3"}) are accepted, as grpc-java's {@code JsonUtil} accepts them.
 *   <li>{@code maxBackoff} below {@code initialBackoff} is accepted. grpc-java then waits {@code
 *       initialBackoff} before the first retry and {@code maxBackoff} before the later ones; gRFC
 *       A6's formula, {@code min(initialBackoff * backoffMultiplier^(n-1), maxBackoff)}, gives
 *       {@code maxBackoff} every time. This parser lowers {@code initialBackoff} to {@code
 *       maxBackoff}, which is A6's result, and grpc-java's for every retry but the first.
 *   <li>Status codes are names or integral numbers 0..16. grpc-java only takes upper-case names;
 *       any case is accepted here.
 *   <li>Durations are protobuf JSON durations ({@code "1.5s"}); digits beyond nanoseconds are
 *       dropped, as in grpc-java.
 * </ul>
 *
 * <p>Where this parser is stricter than grpc-java 1.85.1, it follows gRFC A6 or the limits of
 * {@link RetryPolicy} and {@link RetryBudget#grpcRetryThrottling}: both {@code retryPolicy} and
 * {@code hedgingPolicy} in one entry is an error here (grpc-java accepts the config, and then every
 * call of the method throws IllegalArgumentException); {@code timeout} and {@code
 * perAttemptRecvTimeout} must be {@code > 0} (grpc-java accepts 0, and negative timeouts); {@code
 * retryableStatusCodes} must not be empty, even with a {@code perAttemptRecvTimeout}; {@code
 * maxTokens} must be an integer up to 1000 and {@code tokenRatio} at least 0.001 (grpc-java takes
 * any positive float). {@code hedgingDelay} is optional, zero by default, as A6 says (grpc-java
 * 1.85.1 requires it).
 *
 * <p>Thread-safe: the static methods share no mutable state.
 */
final class ServiceConfigParser {
  private static final JsonFormat.Parser JSON_FORMAT = JsonFormat.parser();

  /** Gson's default nesting limit; the Map form gets the same. */
  private static final int NESTING_LIMIT = 255;

  /** Values quoted in messages are cut after this many characters. */
  private static final int MAX_QUOTED_CHARS = 80;
  /** Keys in a JSON path are cut after this many characters. */
  private static final int MAX_KEY_CHARS = 40;

  /** The longest duration {@link RetryPolicy} takes: Long.MAX_VALUE nanoseconds. */
  private static final Duration MAX_DURATION = Duration.ofNanos(Long.MAX_VALUE);

  private static final Pattern PLAIN_KEY = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

  private static final String DURATION_RULE = "must be a duration in seconds such as \"1.5s\"";
  private static final String CODE_RULE = "must be a status code name or a number 0..16";

  private final int maxAttemptsCap;
  private final Map<String, CallPolicy> methodPolicies = new LinkedHashMap<>();
  private final Map<String, CallPolicy> servicePolicies = new LinkedHashMap<>();
  private @Nullable CallPolicy defaultPolicy;

  /** Where each name was first given (its JSON path), to report duplicates. */
  private final Map<NameKey, String> namedAt = new HashMap<>();

  private ServiceConfigParser(int maxAttemptsCap) {
    this.maxAttemptsCap = maxAttemptsCap;
  }

  /**
   * Parses a service config in JSON.
   *
   * @param maxAttemptsCap larger {@code maxAttempts} are lowered to it
   * @throws IllegalArgumentException if the JSON is malformed, the config breaks a rule, or {@code
   *     maxAttemptsCap < 2}
   */
  static ParsedServiceConfig parse(String json, int maxAttemptsCap) {
    Objects.requireNonNull(json, "json");
    checkCap(maxAttemptsCap);
    return new ServiceConfigParser(maxAttemptsCap).parseRoot(readJson(json));
  }

  /**
   * Parses a service config in the form {@code ManagedChannelBuilder.defaultServiceConfig} takes:
   * maps with String keys, lists, Strings, Doubles (other Numbers are accepted too), Booleans and
   * nulls.
   *
   * @param maxAttemptsCap larger {@code maxAttempts} are lowered to it
   * @throws IllegalArgumentException if a value has another type, the config breaks a rule, or
   *     {@code maxAttemptsCap < 2}
   */
  static ParsedServiceConfig parse(Map<String, ?> config, int maxAttemptsCap) {
    Objects.requireNonNull(config, "config");
    checkCap(maxAttemptsCap);
    return new ServiceConfigParser(maxAttemptsCap).parseRoot(fromJava(config, "", 0));
  }

  private static void checkCap(int maxAttemptsCap) {
    if (maxAttemptsCap < 2) {
      throw new IllegalArgumentException("maxAttemptsCap must be >= 2: " + maxAttemptsCap);
    }
  }

  private ParsedServiceConfig parseRoot(JsonElement root) {
    if (!root.isJsonObject()) {
      throw error("", "must be a JSON object", root);
    }
    JsonObject json = root.getAsJsonObject();
    ServiceConfig.Builder builder = ServiceConfig.newBuilder();
    merge(json, builder, "");
    ServiceConfig config = builder.build();
    for (int i = 0; i < config.getMethodConfigCount(); i++) {
      methodConfig(
          config.getMethodConfig(i),
          json.getAsJsonArray("methodConfig").get(i).getAsJsonObject(),
          "methodConfig[" + i + "]");
    }
    int maxTokens = 0;
    double tokenRatio = 0;
    if (config.hasRetryThrottling()) {
      RetryThrottlingPolicy throttling = config.getRetryThrottling();
      JsonObject raw = json.getAsJsonObject("retryThrottling");
      required(throttling.hasMaxTokens(), "retryThrottling.maxTokens");
      maxTokens = throttling.getMaxTokens();
      if (maxTokens <= 0 || maxTokens > 1000) {
        throw error("retryThrottling.maxTokens", "must be in (0, 1000]", raw.get("maxTokens"));
      }
      required(throttling.hasTokenRatio(), "retryThrottling.tokenRatio");
      tokenRatio = throttling.getTokenRatio();
      if (!(tokenRatio > 0) || Double.isInfinite(tokenRatio)) {
        throw error(
            "retryThrottling.tokenRatio", "must be a finite number > 0", raw.get("tokenRatio"));
      }
      // The truncation of RetryBudget.grpcRetryThrottling (and of grpc-java's Throttle).
      if ((long) (tokenRatio * 1000) == 0) {
        throw error(
            "retryThrottling.tokenRatio",
            "must be >= 0.001 (it is kept to 3 decimals)",
            raw.get("tokenRatio"));
      }
    }
    return new ParsedServiceConfig(
        methodPolicies, servicePolicies, defaultPolicy, maxTokens, tokenRatio);
  }

  // ---- Rules of one methodConfig entry ----

  private void methodConfig(MethodConfig config, JsonObject json, String path) {
    List<NameKey> names = new ArrayList<>();
    for (int j = 0; j < config.getNameCount(); j++) {
      names.add(
          claimName(
              config.getName(j), json.getAsJsonArray("name").get(j), path + ".name[" + j + "]"));
    }
    Duration timeout = null;
    if (config.hasTimeout()) {
      timeout = positive(config.getTimeout(), json.get("timeout"), path + ".timeout");
    }
    if (config.hasRetryPolicy() && config.hasHedgingPolicy()) {
      throw error(
          path + ".hedgingPolicy",
          "must not be set together with retryPolicy (a method retries or hedges, not both)",
          json.get("hedgingPolicy"));
    }
    CallPolicy policy;
    if (config.hasRetryPolicy()) {
      policy =
          retryPolicy(
              config.getRetryPolicy(),
              json.getAsJsonObject("retryPolicy"),
              path + ".retryPolicy",
              timeout);
    } else if (config.hasHedgingPolicy()) {
      policy =
          hedgingPolicy(
              config.getHedgingPolicy(),
              json.getAsJsonObject("hedgingPolicy"),
              path + ".hedgingPolicy",
              timeout);
    } else {
      // No policy: the named methods are not retried, even where a broader entry would retry them.
      RetryPolicy.Builder noRetry = RetryPolicy.newBuilder().maxAttempts(1);
      if (timeout != null) {
        noRetry.timeout(timeout);
      }
      policy = noRetry.build();
    }
    // An entry without names is checked like the others but applies to nothing, as in grpc-java.
    for (NameKey name : names) {
      switch (name.scope) {
        case DEFAULT:
          defaultPolicy = policy;
          break;
        case SERVICE:
          servicePolicies.put(name.key, policy);
          break;
        case METHOD:
          methodPolicies.put(name.key, policy);
          break;
      }
    }
  }

  private enum Scope {
    DEFAULT,
    SERVICE,
    METHOD
  }

  /** What a name covers: every method, a service ("pkg.Service") or a method ("pkg.Service/M"). */
  private record NameKey(Scope scope, String key) {}

  /** Checks one name and claims it for its entry, so that a second claim is reported. */
  private NameKey claimName(Name name, JsonElement json, String path) {
    String service = name.getService();
    String method = name.getMethod();
    // As in grpc-java, absent and empty are the same for both fields.
    NameKey key;
    String shown;
    if (service.isEmpty()) {
      if (!method.isEmpty()) {
        throw error(path, "a method needs a service", json);
      }
      key = new NameKey(Scope.DEFAULT, "");
      shown = "{} (the default for every method)";
    } else if (method.isEmpty()) {
      key = new NameKey(Scope.SERVICE, service);
      shown = service;
    } else {
      key = new NameKey(Scope.METHOD, service + "/" + method);
      shown = key.key();
    }
    String first = namedAt.putIfAbsent(key, path);
    if (first != null) {
      throw new IllegalArgumentException(
          path + ": duplicate name " + abbreviate(shown) + ", also in " + first);
    }
    return key;
  }

  private RetryPolicy retryPolicy(
      io.github.grpcretry.config.v1.RetryPolicy config,
      JsonObject json,
      String path,
      @Nullable Duration timeout) {
    required(config.hasMaxAttempts(), path + ".maxAttempts");
    int maxAttempts = cappedMaxAttempts(config.getMaxAttempts(), json, path);
    required(config.hasInitialBackoff(), path + ".initialBackoff");
    Duration initialBackoff =
        positive(config.getInitialBackoff(), json.get("initialBackoff"), path + ".initialBackoff");
    required(config.hasMaxBackoff(), path + ".maxBackoff");
    Duration maxBackoff =
        positive(config.getMaxBackoff(), json.get("maxBackoff"), path + ".maxBackoff");
    required(config.hasBackoffMultiplier(), path + ".backoffMultiplier");
    double multiplier = config.getBackoffMultiplier();
    if (!(multiplier > 0) || Double.isInfinite(multiplier)) {
      throw error(
          path + ".backoffMultiplier",
          "must be a finite number > 0",
          json.get("backoffMultiplier"));
    }
    required(json.has("retryableStatusCodes"), path + ".retryableStatusCodes");
    EnumSet<Status.Code> retryable =
        codes(
            config.getRetryableStatusCodesList(),
            json.getAsJsonArray("retryableStatusCodes"),
            path + ".retryableStatusCodes");
    if (retryable.isEmpty()) {
      throw error(
          path + ".retryableStatusCodes",
          "must name at least one status code",
          json.get("retryableStatusCodes"));
    }
    RetryPolicy.Builder builder =
        RetryPolicy.newBuilder()
            .maxAttempts(maxAttempts)
            // See the class comment: A6's delays when maxBackoff < initialBackoff.
            .initialBackoff(initialBackoff.compareTo(maxBackoff) > 0 ? maxBackoff : initialBackoff)
            .maxBackoff(maxBackoff)
            .backoffMultiplier(multiplier)
            .retryableStatusCodes(retryable);
    if (config.hasPerAttemptRecvTimeout()) {
      builder.perAttemptTimeout(
          positive(
              config.getPerAttemptRecvTimeout(),
              json.get("perAttemptRecvTimeout"),
              path + ".perAttemptRecvTimeout"));
    }
    if (config.hasJitter()) {
      builder.jitter(jitter(config.getJitter(), json.get("jitter"), path + ".jitter"));
    }
    if (config.getHedgeOnPerAttemptTimeout()) {
      if (!config.hasPerAttemptRecvTimeout()) {
        throw error(
            path + ".hedgeOnPerAttemptTimeout",
            "needs a perAttemptRecvTimeout in the same retryPolicy",
            json.get("hedgeOnPerAttemptTimeout"));
      }
      builder.hedgeOnPerAttemptTimeout(true);
    }
    if (json.has("idempotentRetryableStatusCodes")) {
      builder.idempotentRetryableStatusCodes(
          codes(
                  config.getIdempotentRetryableStatusCodesList(),
                  json.getAsJsonArray("idempotentRetryableStatusCodes"),
                  path + ".idempotentRetryableStatusCodes")
              .toArray(new Status.Code[0]));
    }
    if (timeout != null) {
      builder.timeout(timeout);
    }
    return builder.build();
  }

  private HedgingPolicy hedgingPolicy(
      io.github.grpcretry.config.v1.HedgingPolicy config,
      JsonObject json,
      String path,
      @Nullable Duration timeout) {
    required(config.hasMaxAttempts(), path + ".maxAttempts");
    HedgingPolicy.Builder builder =
        HedgingPolicy.newBuilder()
            .maxAttempts(cappedMaxAttempts(config.getMaxAttempts(), json, path));
    if (config.hasHedgingDelay()) {
      com.google.protobuf.Duration delay = config.getHedgingDelay();
      JsonElement raw = json.get("hedgingDelay");
      if (delay.getSeconds() < 0 || delay.getNanos() < 0) {
        throw error(path + ".hedgingDelay", "must be >= 0", raw);
      }
      builder.hedgingDelay(toJava(delay, raw, path + ".hedgingDelay"));
    }
    if (json.has("nonFatalStatusCodes")) {
      builder.nonFatalStatusCodes(
          codes(
              config.getNonFatalStatusCodesList(),
              json.getAsJsonArray("nonFatalStatusCodes"),
              path + ".nonFatalStatusCodes"));
    }
    if (timeout != null) {
      builder.timeout(timeout);
    }
    return builder.build();
  }

  private int cappedMaxAttempts(int maxAttempts, JsonObject json, String path) {
    // As in grpc-java: the rule is checked on the value given, then the value is capped.
    if (maxAttempts < 2) {
      throw error(path + ".maxAttempts", "must be >= 2", json.get("maxAttempts"));
    }
    return Math.min(maxAttempts, maxAttemptsCap);
  }

  private static void required(boolean present, String path) {
    if (!present) {
      throw error(path, "is required", null);
    }
  }

  private static Duration positive(
      com.google.protobuf.Duration duration, @Nullable JsonElement json, String path) {
    if (duration.getSeconds() < 0
        || duration.getNanos() < 0
        || (duration.getSeconds() == 0 && duration.getNanos() == 0)) {
      throw error(path, "must be > 0", json);
    }
    return toJava(duration, json, path);
  }

  private static Duration toJava(
      com.google.protobuf.Duration duration, @Nullable JsonElement json, String path) {
    Duration value = Duration.ofSeconds(duration.getSeconds(), duration.getNanos());
    if (value.compareTo(MAX_DURATION) > 0) {
      throw error(path, "must be at most \"9223372036.854775807s\"", json);
    }
    return value;
  }

  private static Jitter jitter(String name, @Nullable JsonElement json, String path) {
    for (Jitter jitter : Jitter.values()) {
      if (jitter.name().equalsIgnoreCase(name)) {
        return jitter;
      }
    }
    throw error(
        path,
        "must be one of "
            + Arrays.stream(Jitter.values()).map(Enum::name).collect(Collectors.joining(", ")),
        json);
  }

  /**
   * Status codes from their strings in the message; the JSON array says which were numbers. OK is
   * never allowed.
   */
  private static EnumSet<Status.Code> codes(List<String> values, JsonArray json, String path) {
    EnumSet<Status.Code> codes = EnumSet.noneOf(Status.Code.class);
    for (int i = 0; i < values.size(); i++) {
      JsonElement raw = json.get(i);
      Status.Code code =
          raw.getAsJsonPrimitive().isNumber()
              ? codeByNumber(values.get(i))
              : codeByName(values.get(i));
      if (code == null) {
        throw error(path + "[" + i + "]", CODE_RULE, raw);
      }
      if (code == Status.Code.OK) {
        throw error(path + "[" + i + "]", "must not be OK", raw);
      }
      codes.add(code);
    }
    return codes;
  }

  private static Status.@Nullable Code codeByNumber(String literal) {
    // grpc-java takes a number only when it is integral and a valid code value.
    try {
      int value = new BigDecimal(literal).intValueExact();
      return value >= 0 && value <= 16 ? Status.fromCodeValue(value).getCode() : null;
    } catch (ArithmeticException | NumberFormatException e) {
      return null;
    }
  }

  private static Status.@Nullable Code codeByName(String name) {
    for (Status.Code code : Status.Code.values()) {
      if (code.name().equalsIgnoreCase(name)) {
        return code;
      }
    }
    return null;
  }

  // ---- JSON to protobuf messages, one key at a time ----

  /**
   * Fills {@code builder} from {@code json}: nested messages key by key, every other value with
   * {@link JsonFormat}, so that a failure is reported at the key's path. Unknown keys are skipped
   * at the two levels that hold settings other than retries, and errors everywhere else.
   */
  private static void merge(JsonObject json, Message.Builder builder, String path) {
    Descriptor type = builder.getDescriptorForType();
    boolean skipUnknown =
        type == ServiceConfig.getDescriptor() || type == MethodConfig.getDescriptor();
    for (Map.Entry<String, JsonElement> entry : json.entrySet()) {
      String key = entry.getKey();
      JsonElement value = entry.getValue();
      String keyPath = child(path, key);
      FieldDescriptor field = fieldByJsonName(type, key);
      if (field == null) {
        if (skipUnknown) {
          continue;
        }
        throw error(keyPath, "is not a known key (known: " + jsonNames(type) + ")", value);
      }
      if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE && !isDuration(field)) {
        mergeMessageField(field, value, builder, keyPath);
        continue;
      }
      checkJsonKind(field, value, keyPath);
      JsonObject single = new JsonObject();
      single.add(key, value);
      try {
        JSON_FORMAT.merge(single.toString(), builder);
      } catch (InvalidProtocolBufferException | RuntimeException e) {
        throw error(keyPath, typeRule(field), value, e);
      }
    }
  }

  private static void mergeMessageField(
      FieldDescriptor field, JsonElement value, Message.Builder builder, String path) {
    if (!field.isRepeated()) {
      if (!value.isJsonObject()) {
        throw error(path, typeRule(field), value);
      }
      Message.Builder nested = builder.newBuilderForField(field);
      merge(value.getAsJsonObject(), nested, path);
      builder.setField(field, nested.build());
      return;
    }
    if (!value.isJsonArray()) {
      throw error(path, typeRule(field), value);
    }
    JsonArray array = value.getAsJsonArray();
    for (int i = 0; i < array.size(); i++) {
      String elementPath = path + "[" + i + "]";
      if (!array.get(i).isJsonObject()) {
        throw error(elementPath, "must be an object", array.get(i));
      }
      Message.Builder nested = builder.newBuilderForField(field);
      merge(array.get(i).getAsJsonObject(), nested, elementPath);
      builder.addRepeatedField(field, nested.build());
    }
  }

  /**
   * Checks what JsonFormat is lenient about: it reads null as "absent", a one-element array as its
   * element, and a number or boolean as a string. The schema wants a single non-null JSON value for
   * a single field (grpc-java rejects null too), a string for a string, and for status code lists
   * (the only repeated strings) strings or numbers.
   */
  private static void checkJsonKind(FieldDescriptor field, JsonElement value, String path) {
    if (!field.isRepeated()) {
      boolean kindOk =
          field.getJavaType() == FieldDescriptor.JavaType.STRING
              ? value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()
              : value.isJsonPrimitive();
      if (!kindOk) {
        throw error(path, typeRule(field), value);
      }
      return;
    }
    if (!value.isJsonArray()) {
      throw error(path, typeRule(field), value);
    }
    JsonArray array = value.getAsJsonArray();
    for (int i = 0; i < array.size(); i++) {
      JsonElement element = array.get(i);
      if (!element.isJsonPrimitive() || element.getAsJsonPrimitive().isBoolean()) {
        throw error(path + "[" + i + "]", CODE_RULE, element);
      }
    }
  }

  private static @Nullable FieldDescriptor fieldByJsonName(Descriptor type, String key) {
    // JSON names only: JsonFormat would also take "max_attempts", which gRPC implementations
    // do not read.
    for (FieldDescriptor field : type.getFields()) {
      if (field.getJsonName().equals(key)) {
        return field;
      }
    }
    return null;
  }

  private static String jsonNames(Descriptor type) {
    return type.getFields().stream()
        .map(FieldDescriptor::getJsonName)
        .collect(Collectors.joining(", "));
  }

  private static boolean isDuration(FieldDescriptor field) {
    return field.getJavaType() == FieldDescriptor.JavaType.MESSAGE
        && field.getMessageType().equals(com.google.protobuf.Duration.getDescriptor());
  }

  private static String typeRule(FieldDescriptor field) {
    switch (field.getJavaType()) {
      case INT:
        return "must be a 32-bit integer";
      case DOUBLE:
        return "must be a finite number";
      case STRING:
        return field.isRepeated() ? "must be an array of status codes" : "must be a string";
      case MESSAGE:
        if (isDuration(field)) {
          return DURATION_RULE;
        }
        return field.isRepeated() ? "must be an array of objects" : "must be an object";
      default:
        throw new AssertionError(field.getFullName() + " has an unexpected type");
    }
  }

  // ---- Reading JSON ----

  /** Reads strict JSON into a tree, keeping number literals as written. */
  private static JsonElement readJson(String json) {
    JsonReader reader = new JsonReader(new StringReader(json));
    reader.setStrictness(Strictness.STRICT);
    try {
      JsonElement root = read(reader, "");
      if (reader.peek() != JsonToken.END_DOCUMENT) {
        throw new IOException("more JSON after the end of the config");
      }
      return root;
    } catch (IOException | IllegalStateException e) {
      throw new IllegalArgumentException("service config is not valid JSON: " + describe(e), e);
    }
  }

  private static JsonElement read(JsonReader reader, String path) throws IOException {
    switch (reader.peek()) {
      case BEGIN_OBJECT:
        JsonObject object = new JsonObject();
        reader.beginObject();
        while (reader.hasNext()) {
          String key = reader.nextName();
          String keyPath = child(path, key);
          JsonElement value = read(reader, keyPath);
          if (object.has(key)) {
            throw error(keyPath, "must appear only once in its object", value);
          }
          object.add(key, value);
        }
        reader.endObject();
        return object;
      case BEGIN_ARRAY:
        JsonArray array = new JsonArray();
        reader.beginArray();
        while (reader.hasNext()) {
          array.add(read(reader, path + "[" + array.size() + "]"));
        }
        reader.endArray();
        return array;
      case STRING:
        return new JsonPrimitive(reader.nextString());
      case NUMBER:
        return new JsonPrimitive(new NumberLiteral(reader.nextString()));
      case BOOLEAN:
        return new JsonPrimitive(reader.nextBoolean());
      case NULL:
        reader.nextNull();
        return JsonNull.INSTANCE;
      default:
        throw new IOException("unexpected " + reader.peek() + " at " + where(path));
    }
  }

  /** Gson's message, without its advice to parse leniently and its troubleshooting link. */
  private static String describe(Exception e) {
    String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    int newline = message.indexOf('\n');
    if (newline >= 0) {
      message = message.substring(0, newline);
    }
    message =
        message.replace(
            "Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON",
            "malformed JSON");
    return message.length() <= 200 ? message : message.substring(0, 200) + "...";
  }

  /** The Map form as a JSON tree; grpc-java's defaultServiceConfig checks the same types. */
  private static JsonElement fromJava(@Nullable Object value, String path, int depth) {
    if (depth > NESTING_LIMIT) {
      throw new IllegalArgumentException(
          where(path) + ": must be nested at most " + NESTING_LIMIT + " levels deep, was deeper");
    }
    if (value == null) {
      return JsonNull.INSTANCE;
    }
    if (value instanceof String) {
      return new JsonPrimitive((String) value);
    }
    if (value instanceof Boolean) {
      return new JsonPrimitive((Boolean) value);
    }
    if (value instanceof Double || value instanceof Float) {
      double number = ((Number) value).doubleValue();
      if (Double.isNaN(number) || Double.isInfinite(number)) {
        throw new IllegalArgumentException(where(path) + ": must be a finite number, was " + value);
      }
      return new JsonPrimitive((Number) value);
    }
    if (value instanceof Integer
        || value instanceof Long
        || value instanceof Short
        || value instanceof Byte
        || value instanceof BigInteger
        || value instanceof BigDecimal) {
      return new JsonPrimitive((Number) value);
    }
    if (value instanceof Map) {
      JsonObject object = new JsonObject();
      for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
        if (!(entry.getKey() instanceof String)) {
          throw new IllegalArgumentException(
              where(path) + ": keys must be strings, was " + abbreviate(String.valueOf(entry.getKey())));
        }
        String key = (String) entry.getKey();
        object.add(key, fromJava(entry.getValue(), child(path, key), depth + 1));
      }
      return object;
    }
    if (value instanceof List) {
      JsonArray array = new JsonArray();
      for (Object element : (List<?>) value) {
        array.add(fromJava(element, path + "[" + array.size() + "]", depth + 1));
      }
      return array;
    }
    throw new IllegalArgumentException(
        where(path)
            + ": must be a Map, List, String, Double, Boolean or null, was a "
            + value.getClass().getName());
  }

  // ---- Paths and messages ----

  /**
   * {@code path.key}, or {@code path["key"]} when the key is not a plain name; a key too long to
   * quote is cut, so that a message stays readable whatever the document holds.
   */
  private static String child(String path, String key) {
    if (key.length() > MAX_KEY_CHARS) {
      return path + "[" + new JsonPrimitive(key.substring(0, MAX_KEY_CHARS)) + "...]";
    }
    if (!PLAIN_KEY.matcher(key).matches()) {
      return path + "[" + new JsonPrimitive(key) + "]";
    }
    return path.isEmpty() ? key : path + "." + key;
  }

  /** {@code text}, cut after {@link #MAX_QUOTED_CHARS} characters. */
  private static String abbreviate(String text) {
    return text.length() <= MAX_QUOTED_CHARS ? text : text.substring(0, MAX_QUOTED_CHARS) + "...";
  }

  private static String where(String path) {
    return path.isEmpty() ? "$" : path;
  }

  private static IllegalArgumentException error(
      String path, String rule, @Nullable JsonElement value) {
    return new IllegalArgumentException(where(path) + ": " + rule + ", was " + quote(value));
  }

  private static IllegalArgumentException error(
      String path, String rule, @Nullable JsonElement value, Exception cause) {
    return new IllegalArgumentException(where(path) + ": " + rule + ", was " + quote(value), cause);
  }

  private static String quote(@Nullable JsonElement value) {
    if (value == null) {
      return "missing";
    }
    return abbreviate(value.toString());
  }

  /**
   * A JSON number as written, so that messages quote it exactly and JsonFormat reads the literal
   * (and tells 5.0 from 5.5 for an integer field).
   */
  private static final class NumberLiteral extends Number {
    private final String literal;

    NumberLiteral(String literal) {
      this.literal = literal;
    }

    @Override
    public int intValue() {
      return (int) doubleValue();
    }

    @Override
    public long longValue() {
      return (long) doubleValue();
    }

    @Override
    public float floatValue() {
      return (float) doubleValue();
    }

    @Override
    public double doubleValue() {
      return Double.parseDouble(literal);
    }

    @Override
    public String toString() {
      return literal;
    }
  }
}
