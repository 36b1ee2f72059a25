package io.github.grpcretry.opentelemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.metrics.MeterProvider;
import org.junit.jupiter.api.Test;

/** Bad arguments to {@link RetryMetrics} and its builder fail at once, saying what was wrong. */
class RetryMetricsBuilderTest {

  @Test
  void aNullOpenTelemetryIsRefusedByName() {
    assertThatThrownBy(() -> RetryMetrics.create(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("openTelemetry");
    assertThatThrownBy(() -> RetryMetrics.newBuilder().openTelemetry(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("openTelemetry");
  }

  @Test
  void anOpenTelemetryWithoutAMeterProviderIsRefused() {
    OpenTelemetry broken =
        new OpenTelemetry() {
          @Override
          public io.opentelemetry.api.trace.TracerProvider getTracerProvider() {
            return io.opentelemetry.api.trace.TracerProvider.noop();
          }

          @Override
          public MeterProvider getMeterProvider() {
            return null;
          }

          @Override
          public io.opentelemetry.context.propagation.ContextPropagators getPropagators() {
            return io.opentelemetry.context.propagation.ContextPropagators.noop();
          }
        };
    assertThatThrownBy(() -> RetryMetrics.create(broken))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("openTelemetry.getMeterProvider() returned null");
  }

  @Test
  void otherNullArgumentsAreRefusedByName() {
    RetryMetrics.Builder builder = RetryMetrics.newBuilder();
    assertThatThrownBy(() -> builder.meterProvider(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("meterProvider");
    assertThatThrownBy(() -> builder.methodAttributeFilter(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("methodAttributeFilter");
    assertThatThrownBy(() -> builder.targetAttributeFilter(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("targetAttributeFilter");
    RetryMetrics metrics = RetryMetrics.create(OpenTelemetry.noop());
    assertThatThrownBy(() -> metrics.observe(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("interceptor");
  }

  @Test
  void buildingWithNothingToRecordIntoSaysWhatToSet() {
    assertThatThrownBy(() -> RetryMetrics.newBuilder().build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "RetryMetrics has nothing to record into: set openTelemetry or meterProvider before"
                + " build()");
  }

  @Test
  void theBuilderStaysUsableAndTheNoopOpenTelemetryWorks() {
    RetryMetrics.Builder builder = RetryMetrics.newBuilder().meterProvider(MeterProvider.noop());
    RetryMetrics first = builder.build();
    RetryMetrics second = builder.build();
    assertThat(first).isNotSameAs(second);
    assertThat(first.listener()).hasToString("RetryMetrics.listener()");
    assertThat(first).hasToString("RetryMetrics{scope=grpc-retry, targets=0, interceptors=0}");
  }

  @Test
  void everyBreakerStateHasTheDocumentedCode() {
    assertThat(TargetGauges.code(io.github.grpcretry.CircuitBreaker.State.CLOSED)).isZero();
    assertThat(TargetGauges.code(io.github.grpcretry.CircuitBreaker.State.HALF_OPEN)).isEqualTo(1);
    assertThat(TargetGauges.code(io.github.grpcretry.CircuitBreaker.State.OPEN)).isEqualTo(2);
    assertThat(TargetGauges.code(io.github.grpcretry.CircuitBreaker.State.THROTTLING))
        .isEqualTo(3);
  }
}
