package io.github.grpcretry.opentelemetry;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import java.util.function.Predicate;

/**
 * The labels of the metrics, from a call's method and target, with the builder's filters applied.
 *
 * <p>Thread-safe if the filters are.
 */
final class Labels {
  /** gRFC A66's full method name label. */
  static final AttributeKey<String> METHOD = AttributeKey.stringKey("grpc.method");
  /** gRFC A66's target label; here the channel's authority. */
  static final AttributeKey<String> TARGET = AttributeKey.stringKey("grpc.target");
  /** Why a retry was not made: the lower-case name of a {@code RetryListener.Refusal}. */
  static final AttributeKey<String> REASON = AttributeKey.stringKey("grpc_retry.reason");

  private final Predicate<String> methodFilter;
  private final Predicate<String> targetFilter;

  Labels(Predicate<String> methodFilter, Predicate<String> targetFilter) {
    this.methodFilter = methodFilter;
    this.targetFilter = targetFilter;
  }

  /** Whether {@code target} is recorded by name (and so may have gauges). */
  boolean recordsTarget(String target) {
    return targetFilter.test(target);
  }

  Attributes of(String method, String target) {
    return Attributes.of(
        METHOD,
        methodFilter.test(method) ? method : RetryMetrics.OTHER,
        TARGET,
        recordsTarget(target) ? target : RetryMetrics.OTHER);
  }
}
