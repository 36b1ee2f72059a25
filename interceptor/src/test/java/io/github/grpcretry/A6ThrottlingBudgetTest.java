package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.RetryBudget.AttemptKind;
import io.github.grpcretry.RetryBudget.Outcome;
import org.junit.jupiter.api.Test;

/** gRFC A6 throttling, with grpc-java's arithmetic in thousandths of a token. */
class A6ThrottlingBudgetTest {

  @Test
  void retriesAreAllowedOnlyAboveHalfTheTokens() {
    RetryBudget budget = RetryBudget.grpcRetryThrottling(10, 0.1);
    for (int failures = 1; failures <= 4; failures++) {
      budget.recordOutcome(1, Outcome.RETRYABLE_FAILURE);
      assertThat(budget.tryAcquire(AttemptKind.RETRY)).as("after %d failures", failures).isTrue();
    }
    budget.recordOutcome(1, Outcome.RETRYABLE_FAILURE); // 5 tokens: not above 10 / 2
    assertThat(budget.stats().availableTokens()).isEqualTo(5.0);
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isFalse();
    budget.recordOutcome(1, Outcome.SUCCESS); // 5.1
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isTrue();
    // Retries themselves cost nothing.
    assertThat(budget.stats().availableTokens()).isEqualTo(5.1);
  }

  @Test
  void tokensStayWithinZeroAndMax() {
    RetryBudget budget = RetryBudget.grpcRetryThrottling(3, 0.5);
    budget.recordOutcome(1, Outcome.SUCCESS);
    assertThat(budget.stats().availableTokens()).isEqualTo(3.0);
    for (int i = 0; i < 10; i++) {
      budget.recordOutcome(1, Outcome.RETRYABLE_FAILURE);
    }
    assertThat(budget.stats().availableTokens()).isZero();
    budget.recordOutcome(1, Outcome.NON_RETRYABLE_FAILURE);
    assertThat(budget.stats().availableTokens()).isZero();
  }

  @Test
  void theRatioIsKeptToThreeDecimalsAsInGrpcJava() {
    RetryBudget budget = RetryBudget.grpcRetryThrottling(1, 0.1239);
    budget.recordOutcome(1, Outcome.RETRYABLE_FAILURE);
    budget.recordOutcome(1, Outcome.SUCCESS);
    assertThat(budget.stats().availableTokens()).isEqualTo(0.123);
  }

  @Test
  void badArgumentsAreRejectedWithTheRule() {
    assertThatThrownBy(() -> RetryBudget.grpcRetryThrottling(0, 0.1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("retryThrottling maxTokens must be in (0, 1000]: 0");
    assertThatThrownBy(() -> RetryBudget.grpcRetryThrottling(-5, 0.1))
        .hasMessage("retryThrottling maxTokens must be in (0, 1000]: -5");
    assertThatThrownBy(() -> RetryBudget.grpcRetryThrottling(1001, 0.1))
        .hasMessage("retryThrottling maxTokens must be in (0, 1000]: 1001");
    assertThatThrownBy(() -> RetryBudget.grpcRetryThrottling(10, 0))
        .hasMessage("retryThrottling tokenRatio must be a finite number > 0: 0.0");
    assertThatThrownBy(() -> RetryBudget.grpcRetryThrottling(10, -0.5))
        .hasMessage("retryThrottling tokenRatio must be a finite number > 0: -0.5");
    assertThatThrownBy(() -> RetryBudget.grpcRetryThrottling(10, Double.NaN))
        .hasMessage("retryThrottling tokenRatio must be a finite number > 0: NaN");
    assertThatThrownBy(() -> RetryBudget.grpcRetryThrottling(10, 0.0004))
        .hasMessage(
            "retryThrottling tokenRatio must be >= 0.001 (it is kept to 3 decimals): 4.0E-4");
  }
}
