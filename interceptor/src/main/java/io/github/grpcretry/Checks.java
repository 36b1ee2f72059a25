package io.github.grpcretry;

import io.grpc.Status;
import java.time.Duration;
import java.util.Collection;
import java.util.EnumSet;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Argument checks shared by the builders, so that every message follows one pattern. Each rule is
 * written here or in the builder that enforces it, and nowhere else: the service config parser
 * hands its values to the same builders and reports a {@link BrokenRule} at the JSON path.
 */
final class Checks {
  private Checks() {}

  /** A service name: parts separated by dots, none empty, without '/', whitespace or controls. */
  private static final String SERVICE = "[^./\\s\\p{Cntrl}]++(?:\\.[^./\\s\\p{Cntrl}]++)*+";
  /** A method name: without '/', whitespace or controls. */
  private static final String METHOD = "[^/\\s\\p{Cntrl}]++";

  private static final Pattern SERVICE_NAME =
      Pattern.compile(SERVICE, Pattern.UNICODE_CHARACTER_CLASS);
  private static final Pattern METHOD_NAME =
      Pattern.compile(METHOD, Pattern.UNICODE_CHARACTER_CLASS);
  private static final Pattern FULL_METHOD_NAME =
      Pattern.compile(SERVICE + "/" + METHOD, Pattern.UNICODE_CHARACTER_CLASS);

  /**
   * An argument that breaks a rule. {@link #name} is the argument, which is also its key in a
   * service config; {@link #rule} is the rule alone, which the parser reports at the JSON path.
   */
  static final class BrokenRule extends IllegalArgumentException {
    final String name;
    final String rule;

    BrokenRule(String name, String rule, String message) {
      super(message);
      this.name = name;
      this.rule = rule;
    }
  }

  /** The rule {@code name} breaks with {@code value}: {@code "<name> <rule>: <value>"}. */
  static BrokenRule broken(String name, String rule, Object value) {
    return new BrokenRule(name, rule, name + " " + rule + ": " + value);
  }

  /** Returns {@code value} in nanoseconds, or fails unless it is positive and fits in a long. */
  static long positiveNanos(String name, Duration value) {
    Objects.requireNonNull(value, name);
    if (value.isNegative() || value.isZero()) {
      throw broken(name, "must be > 0", value);
    }
    return nanos(name, value);
  }

  /** Returns {@code value} (not negative) in nanoseconds, or fails unless it fits in a long. */
  static long nanos(String name, Duration value) {
    if (value.compareTo(Duration.ofNanos(Long.MAX_VALUE)) > 0) {
      throw broken(name, "must be at most 9223372036.854775807s (about 292 years)", value);
    }
    return value.toNanos();
  }

  /** A modifiable copy of {@code codes}; unlike {@link EnumSet#copyOf(Collection)}, empty is fine. */
  static EnumSet<Status.Code> enumSetOf(Collection<Status.Code> codes) {
    EnumSet<Status.Code> set = EnumSet.noneOf(Status.Code.class);
    set.addAll(codes);
    return set;
  }

  /**
   * Copies status codes given to a setter named {@code name}, rejecting a null collection or
   * element and OK, which no policy may list.
   */
  static EnumSet<Status.Code> statusCodes(String name, Collection<Status.Code> codes) {
    Objects.requireNonNull(codes, name);
    EnumSet<Status.Code> set = EnumSet.noneOf(Status.Code.class);
    for (Status.Code code : codes) {
      set.add(Objects.requireNonNull(code, name + " element"));
    }
    if (set.contains(Status.Code.OK)) {
      throw new BrokenRule(name, "must not be OK", name + " must not contain OK: " + set);
    }
    return set;
  }

  /** Returns {@code maxAttempts}, or fails unless it counts at least the first attempt. */
  static int maxAttempts(int maxAttempts) {
    if (maxAttempts < 1) {
      throw broken("maxAttempts", "must be >= 1", maxAttempts);
    }
    return maxAttempts;
  }

  /** Returns {@code service}, or fails unless it has the form of a full service name. */
  static String serviceName(String name, String service) {
    Objects.requireNonNull(service, name);
    if (!SERVICE_NAME.matcher(service).matches()) {
      throw broken(
          name,
          "must be a full service name such as \"pkg.Service\": names joined by dots, without '/'"
              + " or spaces",
          '"' + service + '"');
    }
    return service;
  }

  /** Returns {@code method}, or fails unless it has the form of a method's own name. */
  static String methodName(String name, String method) {
    Objects.requireNonNull(method, name);
    if (!METHOD_NAME.matcher(method).matches()) {
      throw broken(
          name,
          "must be a method name such as \"GetItem\", without '/' or spaces",
          '"' + method + '"');
    }
    return method;
  }

  /** Returns {@code fullMethodName}, or fails unless it reads {@code "pkg.Service/Method"}. */
  static String fullMethodName(String fullMethodName) {
    Objects.requireNonNull(fullMethodName, "fullMethodName");
    if (!FULL_METHOD_NAME.matcher(fullMethodName).matches()) {
      throw broken(
          "fullMethodName",
          "must be \"pkg.Service/Method\", without spaces",
          '"' + fullMethodName + '"');
    }
    return fullMethodName;
  }

  /** The failure codes of a breaker: {@link #statusCodes}, and at least one. */
  static EnumSet<Status.Code> failureCodes(Status.Code... codes) {
    EnumSet<Status.Code> set = statusCodes("failureCodes", java.util.Arrays.asList(codes));
    if (set.isEmpty()) {
      throw new IllegalArgumentException("failureCodes must name at least one status code");
    }
    return set;
  }
}
