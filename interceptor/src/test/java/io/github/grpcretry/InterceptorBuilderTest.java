package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Validation of {@link RetryInterceptor.Builder}. */
class InterceptorBuilderTest {

  @Test
  void buildNeedsAPolicy() {
    assertThatThrownBy(() -> RetryInterceptor.newBuilder().build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "RetryInterceptor has no policy: set defaultPolicy, servicePolicy, methodPolicy or"
                + " serviceConfig before build()");
  }

  @Test
  void settersRejectNull() {
    RetryInterceptor.Builder builder = RetryInterceptor.newBuilder();
    assertThatThrownBy(() -> builder.defaultPolicy(null)).hasMessage("defaultPolicy");
    assertThatThrownBy(() -> builder.classifier(null)).hasMessage("classifier");
    assertThatThrownBy(() -> builder.retryBudget(null)).hasMessage("retryBudget");
    assertThatThrownBy(() -> builder.scheduler(null)).hasMessage("scheduler");
    assertThatThrownBy(() -> builder.ticker(null)).hasMessage("ticker");
    assertThatThrownBy(() -> builder.random(null)).hasMessage("random");
  }

  @Test
  void builderStaysReusable() {
    RetryInterceptor.Builder builder =
        RetryInterceptor.newBuilder().defaultPolicy(RetryPolicy.newBuilder().build());
    RetryInterceptor first = builder.build();
    RetryInterceptor second = builder.perCallBufferLimit(10).build();
    assertThat(first.toString()).contains("perCallBufferLimit=1048576");
    assertThat(second.toString()).contains("perCallBufferLimit=10");
    assertThat(first.bufferedBytes()).isZero();
  }
}
