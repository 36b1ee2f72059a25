package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.RetryBudget.AttemptKind;
import io.github.grpcretry.RetryBudget.Outcome;
import org.junit.jupiter.api.Test;

/** The default budget's arithmetic, step by step. */
class TokenBucketBudgetTest {

  @Test
  void startsFullAndGrantsWhileARetryCanBePaidFor() {
    TokenBucketBudget budget = TokenBucketBudget.newBuilder().maxTokens(3).retryCost(1).build();
    assertThat(budget.availableTokens()).isEqualTo(3.0);
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isTrue();
    assertThat(budget.tryAcquire(AttemptKind.HEDGE)).isTrue();
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isTrue();
    assertThat(budget.availableTokens()).isZero();
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isFalse();
    assertThat(budget.stats().granted()).isEqualTo(3);
    assertThat(budget.stats().refused()).isEqualTo(1);
  }

  @Test
  void aSuccessfulRetryEarnsItsCostBack() {
    TokenBucketBudget budget = TokenBucketBudget.newBuilder().maxTokens(2).build();
    budget.tryAcquire(AttemptKind.RETRY);
    budget.tryAcquire(AttemptKind.RETRY);
    assertThat(budget.availableTokens()).isZero();
    budget.recordOutcome(2, Outcome.SUCCESS);
    assertThat(budget.availableTokens()).isEqualTo(1.0);
  }

  @Test
  void failuresTakeNothingMore() {
    TokenBucketBudget budget = TokenBucketBudget.newBuilder().maxTokens(2).build();
    budget.tryAcquire(AttemptKind.RETRY);
    budget.recordOutcome(1, Outcome.RETRYABLE_FAILURE);
    budget.recordOutcome(2, Outcome.RETRYABLE_FAILURE);
    budget.recordOutcome(2, Outcome.NON_RETRYABLE_FAILURE);
    assertThat(budget.availableTokens()).isEqualTo(1.0);
  }

  @Test
  void firstAttemptSuccessesAddTheCreditUpToTheCapacity() {
    TokenBucketBudget budget =
        TokenBucketBudget.newBuilder().maxTokens(1).retryCost(1).successCredit(0.25).build();
    budget.tryAcquire(AttemptKind.RETRY);
    for (int i = 0; i < 3; i++) {
      budget.recordOutcome(1, Outcome.SUCCESS);
    }
    assertThat(budget.availableTokens()).isEqualTo(0.75);
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isFalse();
    budget.recordOutcome(1, Outcome.SUCCESS);
    budget.recordOutcome(1, Outcome.SUCCESS);
    assertThat(budget.availableTokens()).isEqualTo(1.0);
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isTrue();
  }

  @Test
  void aDrainedDefaultBucketGrantsAgainAfterTenSuccesses() {
    TokenBucketBudget budget = TokenBucketBudget.create();
    while (budget.tryAcquire(AttemptKind.RETRY)) {
      // drain
    }
    for (int i = 0; i < 9; i++) {
      budget.recordOutcome(1, Outcome.SUCCESS);
    }
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isFalse();
    budget.recordOutcome(1, Outcome.SUCCESS);
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isTrue();
  }

  @Test
  void retriesAfterATimeoutAreGrantedOnlyWhileTheBucketIsNearlyFull() {
    TokenBucketBudget budget = TokenBucketBudget.newBuilder().maxTokens(10).build();
    // 90% of 10 is 9: one timeout retry takes the bucket from 10 to 9, the next from 9 to 8.
    assertThat(budget.tryAcquire(AttemptKind.AFTER_TIMEOUT)).isTrue();
    assertThat(budget.tryAcquire(AttemptKind.AFTER_TIMEOUT)).isTrue();
    assertThat(budget.availableTokens()).isEqualTo(8.0);
    assertThat(budget.tryAcquire(AttemptKind.AFTER_TIMEOUT)).as("below 90%").isFalse();
    // Other retries are still granted down to the last token.
    for (int i = 0; i < 8; i++) {
      assertThat(budget.tryAcquire(AttemptKind.RETRY)).isTrue();
    }
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isFalse();
    // Ninety first-attempt successes refill it to 9: timeouts are replaced again.
    for (int i = 0; i < 90; i++) {
      budget.recordOutcome(1, RetryBudget.Outcome.SUCCESS);
    }
    assertThat(budget.tryAcquire(AttemptKind.AFTER_TIMEOUT)).isTrue();
  }

  @Test
  void aMinimumFillOfZeroGrantsRetriesAfterATimeoutLikeAnyOther() {
    TokenBucketBudget budget =
        TokenBucketBudget.newBuilder().maxTokens(2).timeoutRetryMinFill(0).build();
    assertThat(budget.tryAcquire(AttemptKind.AFTER_TIMEOUT)).isTrue();
    assertThat(budget.tryAcquire(AttemptKind.AFTER_TIMEOUT)).isTrue();
    assertThat(budget.tryAcquire(AttemptKind.AFTER_TIMEOUT)).isFalse();
  }

  @Test
  void parametersAreCheckedWithClearMessages() {
    assertThatThrownBy(() -> TokenBucketBudget.newBuilder().timeoutRetryMinFill(1.5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeoutRetryMinFill must be a number from 0 to 1: 1.5");
    assertThatThrownBy(() -> TokenBucketBudget.newBuilder().timeoutRetryMinFill(Double.NaN))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeoutRetryMinFill must be a number from 0 to 1: NaN");
    assertThatThrownBy(() -> TokenBucketBudget.newBuilder().maxTokens(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxTokens must be a number from 0.001 to 1,000,000: -1.0");
    assertThatThrownBy(() -> TokenBucketBudget.newBuilder().maxTokens(Double.NaN))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxTokens must be a number from 0.001 to 1,000,000: NaN");
    assertThatThrownBy(() -> TokenBucketBudget.newBuilder().retryCost(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("retryCost must be a number from 0.001 to 1,000,000: 0.0");
    assertThatThrownBy(() -> TokenBucketBudget.newBuilder().successCredit(-0.1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("successCredit must be a number from 0 to 1,000,000: -0.1");
    assertThatThrownBy(() -> TokenBucketBudget.newBuilder().successCredit(0.0001))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("successCredit is kept to three decimals and must be 0 or >= 0.001: 1.0E-4");
    assertThatThrownBy(() -> TokenBucketBudget.newBuilder().maxTokens(1).retryCost(2).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "retryCost must be <= maxTokens, or no retry is ever granted: retryCost=2.000,"
                + " maxTokens=1.000");
  }

  @Test
  void statsAndToStringShowTheState() {
    TokenBucketBudget budget = TokenBucketBudget.create();
    budget.tryAcquire(AttemptKind.RETRY);
    BudgetStats stats = budget.stats();
    assertThat(stats.availableTokens()).isEqualTo(99.0);
    assertThat(stats.maxTokens()).isEqualTo(100.0);
    assertThat(stats.toString()).isEqualTo("BudgetStats{tokens=99.000/100.000, granted=1, refused=0}");
    assertThat(budget.toString()).startsWith("TokenBucketBudget{maxTokens=100.000, retryCost=1.000, successCredit=0.100");
    assertThat(RetryBudget.unlimited().stats().availableTokens()).isNaN();
  }
}
