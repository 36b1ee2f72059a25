package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Builder validation and the value semantics of {@link RetryPolicy}. */
class RetryPolicyTest {

  @Test
  void defaultsAreDocumented() {
    RetryPolicy policy = RetryPolicy.newBuilder().build();
    assertThat(policy.maxAttempts()).isEqualTo(3);
    assertThat(policy.initialBackoff()).isEqualTo(Duration.ofMillis(100));
    assertThat(policy.maxBackoff()).isEqualTo(Duration.ofSeconds(5));
    assertThat(policy.backoffMultiplier()).isEqualTo(2.0);
    assertThat(policy.retryableStatusCodes()).containsExactly(Status.Code.UNAVAILABLE);
    assertThat(policy.jitter()).isEqualTo(Jitter.A6);
    assertThat(policy.perAttemptTimeout()).isNull();
    assertThat(policy.timeout()).isNull();
  }

  @Test
  void rejectsMaxAttemptsBelowOne() {
    assertThatThrownBy(() -> RetryPolicy.newBuilder().maxAttempts(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxAttempts must be >= 1: 0");
  }

  @Test
  void rejectsDurationsThatAreNotPositive() {
    assertThatThrownBy(() -> RetryPolicy.newBuilder().initialBackoff(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("initialBackoff must be > 0: PT0S");
    assertThatThrownBy(() -> RetryPolicy.newBuilder().maxBackoff(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxBackoff must be > 0: PT-0.001S");
    assertThatThrownBy(() -> RetryPolicy.newBuilder().perAttemptTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("perAttemptTimeout must be > 0: PT0S");
    assertThatThrownBy(() -> RetryPolicy.newBuilder().timeout(Duration.ofSeconds(-5)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeout must be > 0: PT-5S");
  }

  @Test
  void rejectsDurationsTooLargeForNanoseconds() {
    assertThatThrownBy(() -> RetryPolicy.newBuilder().maxBackoff(Duration.ofDays(365 * 1000)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("maxBackoff must be at most ");
  }

  @Test
  void rejectsNulls() {
    assertThatThrownBy(() -> RetryPolicy.newBuilder().initialBackoff(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("initialBackoff");
    assertThatThrownBy(() -> RetryPolicy.newBuilder().jitter(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("jitter");
    assertThatThrownBy(
            () -> RetryPolicy.newBuilder().retryableStatusCodes(Status.Code.UNAVAILABLE, null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("retryableStatusCodes element");
  }

  @Test
  void rejectsBadMultipliers() {
    for (double bad : new double[] {0, -1, 0.5, 0.999, Double.NaN, Double.POSITIVE_INFINITY}) {
      assertThatThrownBy(() -> RetryPolicy.newBuilder().backoffMultiplier(bad))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "backoffMultiplier must be a finite number >= 1 (below 1, each backoff would be"
                  + " shorter than the one before; 1 keeps it constant): "
                  + bad);
    }
    assertThat(RetryPolicy.newBuilder().backoffMultiplier(1).build().backoffMultiplier())
        .isEqualTo(1.0);
  }

  @Test
  void rejectsEmptyOrOkStatusCodes() {
    assertThatThrownBy(() -> RetryPolicy.newBuilder().retryableStatusCodes(List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("retryableStatusCodes must name at least one status code");
    assertThatThrownBy(
            () -> RetryPolicy.newBuilder().retryableStatusCodes(Status.Code.OK, Status.Code.ABORTED))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("retryableStatusCodes must not contain OK: [OK, ABORTED]");
  }

  @Test
  void buildChecksMaxBackoffAgainstInitialBackoff() {
    RetryPolicy.Builder builder =
        RetryPolicy.newBuilder()
            .initialBackoff(Duration.ofSeconds(2))
            .maxBackoff(Duration.ofSeconds(1));
    assertThatThrownBy(builder::build)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxBackoff must be >= initialBackoff: maxBackoff=PT1S, initialBackoff=PT2S");
  }

  @Test
  void builderStaysReusableAndPoliciesAreValues() {
    RetryPolicy.Builder builder =
        RetryPolicy.newBuilder().maxAttempts(4).retryableStatusCodes(Status.Code.UNAVAILABLE);
    RetryPolicy first = builder.build();
    RetryPolicy second = builder.build();
    assertThat(first).isEqualTo(second).hasSameHashCodeAs(second).isNotSameAs(second);
    RetryPolicy third = builder.maxAttempts(5).build();
    assertThat(third).isNotEqualTo(first);
    assertThat(first.maxAttempts()).isEqualTo(4);
    assertThat(first.toBuilder().build()).isEqualTo(first);
    assertThat(first.toString())
        .contains("maxAttempts=4")
        .contains("retryableStatusCodes=[UNAVAILABLE]");
  }

  @Test
  void retryableStatusCodesCannotBeModified() {
    RetryPolicy policy = RetryPolicy.newBuilder().build();
    assertThatThrownBy(() -> policy.retryableStatusCodes().add(Status.Code.ABORTED))
        .isInstanceOf(UnsupportedOperationException.class);
  }
}
