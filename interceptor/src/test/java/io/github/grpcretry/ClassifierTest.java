package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.CREATE;
import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.PUT;
import static io.github.grpcretry.StatusClassifier.Category.RETRYABLE;
import static io.github.grpcretry.StatusClassifier.Category.TERMINAL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;

/** The default classifier's table, code by code. */
class ClassifierTest {
  private static final StatusClassifier CLASSIFIER = StatusClassifier.defaultClassifier();
  private static final RetryPolicy DEFAULT = RetryPolicy.newBuilder().build();

  private static StatusClassifier.Category classify(
      Status.Code code, MethodDescriptor<?, ?> method, RetryPolicy policy, boolean timedOut) {
    return CLASSIFIER.classify(
        new AttemptFailure(code.toStatus(), new Metadata(), method, policy, 1, timedOut));
  }

  @Test
  void byDefaultOnlyUnavailableIsRetryable() {
    for (Status.Code code : Status.Code.values()) {
      if (code == Status.Code.OK) {
        continue;
      }
      assertThat(classify(code, CREATE, DEFAULT, false))
          .as(code.name())
          .isEqualTo(code == Status.Code.UNAVAILABLE ? RETRYABLE : TERMINAL);
    }
  }

  @Test
  void thePolicysCodesAreRetryable() {
    RetryPolicy policy =
        RetryPolicy.newBuilder()
            .retryableStatusCodes(Status.Code.ABORTED, Status.Code.RESOURCE_EXHAUSTED)
            .build();
    for (Status.Code code : Status.Code.values()) {
      if (code == Status.Code.OK) {
        continue;
      }
      assertThat(classify(code, GET, policy, false))
          .as(code.name())
          .isEqualTo(
              EnumSet.of(Status.Code.ABORTED, Status.Code.RESOURCE_EXHAUSTED).contains(code)
                  ? RETRYABLE
                  : TERMINAL);
    }
  }

  @Test
  void aPerAttemptTimeoutIsRetryableOnlyForSafeOrIdempotentMethods() {
    assertThat(GET.isSafe()).isTrue();
    assertThat(PUT.isIdempotent()).isTrue();
    assertThat(CREATE.isIdempotent() || CREATE.isSafe()).isFalse();
    assertThat(classify(Status.Code.DEADLINE_EXCEEDED, GET, DEFAULT, true)).isEqualTo(RETRYABLE);
    assertThat(classify(Status.Code.DEADLINE_EXCEEDED, PUT, DEFAULT, true)).isEqualTo(RETRYABLE);
    assertThat(classify(Status.Code.DEADLINE_EXCEEDED, CREATE, DEFAULT, true)).isEqualTo(TERMINAL);
    // A DEADLINE_EXCEEDED the server sent is an ordinary status.
    assertThat(classify(Status.Code.DEADLINE_EXCEEDED, GET, DEFAULT, false)).isEqualTo(TERMINAL);
  }

  @Test
  void anAttemptFailureCannotBeOk() {
    assertThatThrownBy(
            () -> new AttemptFailure(Status.OK, new Metadata(), GET, DEFAULT, 1, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("an AttemptFailure cannot have status OK");
    assertThatThrownBy(
            () -> new AttemptFailure(Status.UNAVAILABLE, new Metadata(), GET, DEFAULT, 0, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("attemptNumber must be >= 1: 0");
  }
}
