package io.github.grpcretry;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The retry-related content of a gRPC service config: policies by full method name, by service and
 * for every method, and the throttling settings.
 *
 * <p>Thread-safe: immutable.
 */
final class ParsedServiceConfig {
  /** Policies of single methods, keyed by full method name ({@code "pkg.Service/Method"}). */
  final Map<String, CallPolicy> methodPolicies;

  /** Policies of whole services, keyed by full service name ({@code "pkg.Service"}). */
  final Map<String, CallPolicy> servicePolicies;

  /** The policy of every other method, or null. */
  final @Nullable CallPolicy defaultPolicy;

  /** {@code retryThrottling.maxTokens}, or 0 when the config has no {@code retryThrottling}. */
  final int throttlingMaxTokens;

  /** {@code retryThrottling.tokenRatio}, or 0 when the config has no {@code retryThrottling}. */
  final double throttlingTokenRatio;

  ParsedServiceConfig(
      Map<String, CallPolicy> methodPolicies,
      Map<String, CallPolicy> servicePolicies,
      @Nullable CallPolicy defaultPolicy,
      int throttlingMaxTokens,
      double throttlingTokenRatio) {
    this.methodPolicies = Collections.unmodifiableMap(new LinkedHashMap<>(methodPolicies));
    this.servicePolicies = Collections.unmodifiableMap(new LinkedHashMap<>(servicePolicies));
    this.defaultPolicy = defaultPolicy;
    this.throttlingMaxTokens = throttlingMaxTokens;
    this.throttlingTokenRatio = throttlingTokenRatio;
  }

  boolean hasThrottling() {
    return throttlingMaxTokens > 0;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (this == o) {
      return true;
    }
    if (!(o instanceof ParsedServiceConfig)) {
      return false;
    }
    ParsedServiceConfig that = (ParsedServiceConfig) o;
    return methodPolicies.equals(that.methodPolicies)
        && servicePolicies.equals(that.servicePolicies)
        && Objects.equals(defaultPolicy, that.defaultPolicy)
        && throttlingMaxTokens == that.throttlingMaxTokens
        && Double.compare(throttlingTokenRatio, that.throttlingTokenRatio) == 0;
  }

  @Override
  public int hashCode() {
    return Objects.hash(
        methodPolicies, servicePolicies, defaultPolicy, throttlingMaxTokens, throttlingTokenRatio);
  }

  @Override
  public String toString() {
    return "ParsedServiceConfig{methods="
        + methodPolicies
        + ", services="
        + servicePolicies
        + ", default="
        + defaultPolicy
        + (hasThrottling()
            ? ", retryThrottling(" + throttlingMaxTokens + ", " + throttlingTokenRatio + ")"
            : "")
        + '}';
  }
}
