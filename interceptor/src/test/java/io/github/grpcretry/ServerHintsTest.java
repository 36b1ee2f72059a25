package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.rpc.RetryInfo;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Reading pushback and RetryInfo, as gRFC A6 and google.rpc define them. */
class ServerHintsTest {

  private static Metadata pushback(String value) {
    Metadata trailers = new Metadata();
    trailers.put(ServerHints.PUSHBACK_KEY, value);
    return trailers;
  }

  @Test
  void noHintWhenTheTrailersSayNothing() {
    assertThat(ServerHints.retryDelayNanos(Status.UNAVAILABLE, new Metadata()))
        .isEqualTo(ServerHints.NONE);
  }

  @Test
  void nonNegativePushbackIsAnExactDelay() {
    assertThat(ServerHints.retryDelayNanos(Status.UNAVAILABLE, pushback("250")))
        .isEqualTo(TimeUnit.MILLISECONDS.toNanos(250));
    assertThat(ServerHints.retryDelayNanos(Status.UNAVAILABLE, pushback("0"))).isZero();
  }

  @Test
  void negativeOrUnparseablePushbackMeansDoNotRetry() {
    for (String value : new String[] {"-1", "-250", "abc", "", "1.5", "99999999999999999999"}) {
      assertThat(ServerHints.retryDelayNanos(Status.UNAVAILABLE, pushback(value)))
          .as(value)
          .isEqualTo(ServerHints.DO_NOT_RETRY);
    }
  }

  @Test
  void hugePushbackSaturatesInsteadOfOverflowing() {
    assertThat(ServerHints.pushbackNanos(Long.toString(Long.MAX_VALUE)))
        .isPositive()
        .isLessThanOrEqualTo(Long.MAX_VALUE);
  }

  private static Metadata retryInfo(Status.Code code, long seconds, int nanos) {
    com.google.rpc.Status details =
        com.google.rpc.Status.newBuilder()
            .setCode(code.value())
            .setMessage("busy")
            .addDetails(
                Any.pack(
                    RetryInfo.newBuilder()
                        .setRetryDelay(
                            com.google.protobuf.Duration.newBuilder()
                                .setSeconds(seconds)
                                .setNanos(nanos))
                        .build()))
            .build();
    return StatusProto.toStatusRuntimeException(details).getTrailers();
  }

  @Test
  void retryInfoGivesTheDelay() {
    assertThat(
            ServerHints.retryDelayNanos(
                Status.RESOURCE_EXHAUSTED, retryInfo(Status.Code.RESOURCE_EXHAUSTED, 1, 500_000_000)))
        .isEqualTo(TimeUnit.MILLISECONDS.toNanos(1_500));
  }

  @Test
  void retryInfoWithANegativeDelayIsIgnored() {
    assertThat(
            ServerHints.retryDelayNanos(
                Status.UNAVAILABLE, retryInfo(Status.Code.UNAVAILABLE, -1, 0)))
        .isEqualTo(ServerHints.NONE);
  }

  @Test
  void retryInfoWhoseCodeDisagreesWithTheStatusIsIgnored() {
    assertThat(
            ServerHints.retryDelayNanos(Status.UNAVAILABLE, retryInfo(Status.Code.ABORTED, 1, 0)))
        .isEqualTo(ServerHints.NONE);
  }

  @Test
  void pushbackWinsOverRetryInfo() {
    Metadata trailers = retryInfo(Status.Code.UNAVAILABLE, 5, 0);
    trailers.put(ServerHints.PUSHBACK_KEY, "-1");
    assertThat(ServerHints.retryDelayNanos(Status.UNAVAILABLE, trailers))
        .isEqualTo(ServerHints.DO_NOT_RETRY);
  }
}
