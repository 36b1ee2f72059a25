package io.github.grpcretry;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import io.grpc.Status;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * A value of a service config and its JSON path ({@code ""} for the document, then {@code
 * methodConfig[0].retryPolicy}, or {@code x["odd key"]}): the cursor with which {@link
 * ServiceConfigParser} reads a Gson tree. Each getter checks the value's JSON type, and every
 * error reads {@code <path>: <rule>, was <value>}, quoting at most 80 characters of the value and
 * 40 of a key, whatever the document holds. {@code value} is null where a key is absent and
 * {@link JsonNull} where it is null.
 *
 * <p>Immutable.
 */
record ConfigNode(String path, @Nullable JsonElement value) {
  private static final TypeAdapter<JsonElement> TREE = new Gson().getAdapter(JsonElement.class);
  /** Gson's default nesting limit; the Map form gets the same. */
  private static final int NESTING_LIMIT = 255;
  private static final int MAX_QUOTED_CHARS = 80;
  private static final int MAX_KEY_CHARS = 40;
  private static final Pattern PLAIN_KEY = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
  /** A protobuf JSON duration, as protobuf reads it; seconds up to 315,576,000,000. */
  private static final Pattern DURATION = Pattern.compile("(-?)\\+?(\\d{1,12})(?:\\.(\\d*))?s");
  private static final long MAX_DURATION_SECONDS = 315_576_000_000L;
  private static final BigDecimal MAX_DOUBLE = BigDecimal.valueOf(Double.MAX_VALUE);

  /**
   * Reads strict JSON with Gson; number literals are kept as written, and a key given twice in
   * one object is an error, as in grpc-java.
   */
  static ConfigNode read(String json) {
    JsonReader reader = new UniqueKeyReader(json);
    try {
      JsonElement root = TREE.read(reader);
      if (reader.peek() != JsonToken.END_DOCUMENT) {
        throw new IOException("more JSON after the end of the config");
      }
      return new ConfigNode("", root);
    } catch (IOException | IllegalStateException e) {
      // Gson's message, without its advice to parse leniently and its troubleshooting link.
      String message =
          String.valueOf(e.getMessage())
              .lines()
              .findFirst()
              .orElse("")
              .replace(
                  "Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON",
                  "malformed JSON");
      throw new IllegalArgumentException(
          "service config is not valid JSON: " + abbreviate(message, 200), e);
    }
  }

  /** The Map form of {@code ManagedChannelBuilder.defaultServiceConfig}, with its checks. */
  static ConfigNode of(Map<String, ?> config) {
    return new ConfigNode("", fromJava(config, "", 0));
  }

  boolean present() {
    return value != null;
  }

  void ifPresent(Consumer<ConfigNode> use) {
    if (value != null) {
      use.accept(this);
    }
  }

  /** The value of {@code key} in this object, absent if this is. */
  ConfigNode get(String key) {
    return new ConfigNode(
        child(path, key), value == null ? null : value.getAsJsonObject().get(key));
  }

  ConfigNode required() {
    if (value == null) {
      throw fail("is required");
    }
    return this;
  }

  /** Checks that this is an object, if present, with keys among {@code known} if any given. */
  ConfigNode object(String... known) {
    if (value != null && !value.isJsonObject()) {
      throw fail("must be an object");
    }
    if (value != null && known.length > 0) {
      for (String key : value.getAsJsonObject().keySet()) {
        if (!Arrays.asList(known).contains(key)) {
          throw get(key).fail("is not a known key (known: " + String.join(", ", known) + ")");
        }
      }
    }
    return this;
  }

  List<ConfigNode> elements(String rule) {
    if (value == null || !value.isJsonArray()) {
      throw fail(rule);
    }
    List<ConfigNode> elements = new ArrayList<>();
    for (JsonElement element : value.getAsJsonArray()) {
      elements.add(new ConfigNode(path + "[" + elements.size() + "]", element));
    }
    return elements;
  }

  List<ConfigNode> objects() {
    List<ConfigNode> elements = elements("must be an array of objects");
    elements.forEach(ConfigNode::object);
    return elements;
  }

  private boolean is(Predicate<JsonPrimitive> kind) {
    return value instanceof JsonPrimitive && kind.test((JsonPrimitive) value);
  }

  String stringOr(String absent) {
    if (value != null && !is(JsonPrimitive::isString)) {
      throw fail("must be a string");
    }
    return value == null ? absent : value.getAsString();
  }

  boolean bool() {
    if (!is(JsonPrimitive::isBoolean)) {
      throw fail("must be true or false");
    }
    return value.getAsBoolean();
  }

  /** A number, or a string that holds one, as protobuf's JSON and grpc-java read them. */
  private @Nullable BigDecimal decimal() {
    try {
      return is(p -> !p.isBoolean()) ? value.getAsBigDecimal() : null;
    } catch (NumberFormatException e) {
      return null;
    }
  }

  int int32() {
    BigDecimal number = decimal();
    try {
      if (number != null) {
        return number.intValueExact();
      }
    } catch (ArithmeticException e) {
      // Not integral, or too large: below.
    }
    throw fail("must be a 32-bit integer");
  }

  /** A finite number, or one of protobuf's strings "NaN", "Infinity" and "-Infinity". */
  double number() {
    if (is(p -> p.isString() && p.getAsString().matches("NaN|-?Infinity"))) {
      return Double.parseDouble(value.getAsString());
    }
    BigDecimal number = decimal();
    if (number == null || number.abs().compareTo(MAX_DOUBLE) > 0) {
      throw fail("must be a finite number");
    }
    return number.doubleValue();
  }

  Duration duration() {
    Matcher parts = DURATION.matcher(is(JsonPrimitive::isString) ? value.getAsString() : "");
    if (!parts.matches() || Long.parseLong(parts.group(2)) > MAX_DURATION_SECONDS) {
      throw fail("must be a duration in seconds such as \"1.5s\"");
    }
    String nanos = (parts.group(3) == null ? "" : parts.group(3)) + "000000000";
    Duration duration =
        Duration.ofSeconds(Long.parseLong(parts.group(2)), Long.parseLong(nanos.substring(0, 9)));
    return parts.group(1).isEmpty() ? duration : duration.negated();
  }

  /** A name in any case, or an integral number that is a code's value, as grpc-java takes it. */
  Status.Code code() {
    BigDecimal number = is(JsonPrimitive::isNumber) ? decimal() : null;
    for (Status.Code code : Status.Code.values()) {
      if (number != null
          ? number.compareTo(BigDecimal.valueOf(code.value())) == 0
          : is(p -> p.isString() && p.getAsString().equalsIgnoreCase(code.name()))) {
        return code;
      }
    }
    throw fail("must be a status code name or a number 0..16");
  }

  /** Status codes, each checked as the builders check them, so OK is reported where it is. */
  List<Status.Code> codes(String name) {
    List<Status.Code> codes = new ArrayList<>();
    for (ConfigNode element : elements("must be an array of status codes")) {
      Status.Code code = element.code();
      element.apply(() -> Checks.statusCodes(name, List.of(code)));
      codes.add(code);
    }
    return codes;
  }

  Jitter jitter() {
    String name = stringOr("");
    try {
      return Jitter.valueOf(name.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw fail("must be one of " + Arrays.toString(Jitter.values()).replaceAll("[\\[\\]]", ""));
    }
  }

  /**
   * Runs builder calls; a rule a builder finds broken is reported at the key of this object named
   * like the argument (the builders' names are the service config's keys), else at this node.
   */
  <T> T apply(Supplier<T> builderCalls) {
    try {
      return builderCalls.get();
    } catch (Checks.BrokenRule e) {
      boolean atKey = value != null && value.isJsonObject() && value.getAsJsonObject().has(e.name);
      throw (atKey ? get(e.name) : this).fail(e.rule);
    }
  }

  IllegalArgumentException fail(String rule) {
    String was = value == null ? "missing" : abbreviate(value.toString(), MAX_QUOTED_CHARS);
    return new IllegalArgumentException(where(path) + ": " + rule + ", was " + was);
  }

  /** Gson's strict reader; a key given twice in one object is an error at its path. */
  private static final class UniqueKeyReader extends JsonReader {
    /** The keys of each open object, innermost first; {@code current} is being read. */
    private final ArrayDeque<OpenObject> objects = new ArrayDeque<>();

    private static final class OpenObject {
      final Set<String> keys = new HashSet<>();
      String current = "";
    }

    UniqueKeyReader(String json) {
      super(new StringReader(json));
      setStrictness(Strictness.STRICT);
    }

    @Override
    public void beginObject() throws IOException {
      super.beginObject();
      objects.push(new OpenObject());
    }

    @Override
    public void endObject() throws IOException {
      super.endObject();
      objects.pop();
    }

    @Override
    public String nextName() throws IOException {
      String key = super.nextName();
      OpenObject object = objects.element();
      object.current = key;
      if (!object.keys.add(key)) {
        // Thrown through Gson's reading of the tree.
        throw new ConfigNode(path(), TREE.read(this)).fail("must appear only once in its object");
      }
      return key;
    }

    /** Gson's path ({@code $.a[0].b}, keys unquoted) in the notation of {@link ConfigNode}. */
    private String path() {
      String gsonPath = getPath();
      Iterator<OpenObject> outermostFirst = objects.descendingIterator();
      String path = "";
      for (int at = 1; at < gsonPath.length(); ) {
        if (gsonPath.charAt(at) == '[') {
          int end = gsonPath.indexOf(']', at) + 1;
          path += gsonPath.substring(at, end);
          at = end;
        } else {
          String key = outermostFirst.next().current;
          path = child(path, key);
          at += 1 + key.length();
        }
      }
      return path;
    }
  }

  /** The Map form as a JSON tree; grpc-java's defaultServiceConfig checks the same types. */
  private static JsonElement fromJava(@Nullable Object value, String path, int depth) {
    if (depth > NESTING_LIMIT) {
      throw new IllegalArgumentException(
          where(path) + ": must be nested at most " + NESTING_LIMIT + " levels deep, was deeper");
    }
    if (value == null) {
      return JsonNull.INSTANCE;
    } else if (value instanceof String) {
      return new JsonPrimitive((String) value);
    } else if (value instanceof Boolean) {
      return new JsonPrimitive((Boolean) value);
    } else if (value instanceof Number) {
      double number = ((Number) value).doubleValue();
      if (Double.isNaN(number) || Double.isInfinite(number)) {
        throw new IllegalArgumentException(where(path) + ": must be a finite number, was " + value);
      }
      return new JsonPrimitive((Number) value);
    } else if (value instanceof Map) {
      JsonObject object = new JsonObject();
      for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
        if (!(entry.getKey() instanceof String)) {
          throw new IllegalArgumentException(
              where(path) + ": keys must be strings, was " + abbreviate(entry.getKey()));
        }
        String key = (String) entry.getKey();
        object.add(key, fromJava(entry.getValue(), child(path, key), depth + 1));
      }
      return object;
    } else if (value instanceof List) {
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

  /** {@code path.key}, or {@code path["key"]} for a key that is not a plain name, cut if long. */
  private static String child(String path, String key) {
    if (key.length() > MAX_KEY_CHARS) {
      return path + "[" + new JsonPrimitive(key.substring(0, MAX_KEY_CHARS)) + "...]";
    } else if (!PLAIN_KEY.matcher(key).matches()) {
      return path + "[" + new JsonPrimitive(key) + "]";
    }
    return path.isEmpty() ? key : path + "." + key;
  }

  /** {@code value} as text, cut after the characters a message quotes of a value. */
  static String abbreviate(@Nullable Object value) {
    return abbreviate(String.valueOf(value), MAX_QUOTED_CHARS);
  }

  private static String abbreviate(String text, int max) {
    return text.length() <= max ? text : text.substring(0, max) + "...";
  }

  private static String where(String path) {
    return path.isEmpty() ? "$" : path;
  }
}
