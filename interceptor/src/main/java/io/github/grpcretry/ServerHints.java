package io.github.grpcretry;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.RetryInfo;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.concurrent.TimeUnit;

/**
 * Reads what a server says about retrying a failed attempt: the {@code grpc-retry-pushback-ms}
 * trailer of gRFC A6 and a {@code google.rpc.RetryInfo} in the status details.
 *
 * <p>The pushback trailer wins when both are present, since it is the gRPC-level signal. Its
 * semantics follow A6: a value {@code >= 0} means retry after exactly that many milliseconds (and
 * start the backoff sequence over), a negative or unparseable value means do not retry. A RetryInfo
 * with a non-negative delay means retry after that delay; one with a negative delay is ignored.
 *
 * <p>Thread-safe: stateless.
 */
final class ServerHints {
  /** The server said nothing about retrying. */
  static final long NONE = -1;
  /** The server asked the client not to retry. */
  static final long DO_NOT_RETRY = -2;

  static final Metadata.Key<String> PUSHBACK_KEY =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<byte[]> STATUS_DETAILS_KEY =
      Metadata.Key.of("grpc-status-details-bin", Metadata.BINARY_BYTE_MARSHALLER);
  private static final long MAX_DELAY_MILLIS = TimeUnit.NANOSECONDS.toMillis(Long.MAX_VALUE);

  private ServerHints() {}

  /**
   * Returns the delay in nanoseconds the server asked for ({@code >= 0}), {@link #DO_NOT_RETRY} or
   * {@link #NONE}.
   */
  static long retryDelayNanos(Status status, Metadata trailers) {
    String pushback = trailers.get(PUSHBACK_KEY);
    if (pushback != null) {
      return pushbackNanos(pushback);
    }
    if (trailers.containsKey(STATUS_DETAILS_KEY)) {
      return retryInfoNanos(status, trailers);
    }
    return NONE;
  }

  /** A6's reading of one pushback value. */
  static long pushbackNanos(String value) {
    long millis;
    try {
      millis = Long.parseLong(value);
    } catch (NumberFormatException e) {
      return DO_NOT_RETRY;
    }
    if (millis < 0) {
      return DO_NOT_RETRY;
    }
    return TimeUnit.MILLISECONDS.toNanos(Math.min(millis, MAX_DELAY_MILLIS));
  }

  private static long retryInfoNanos(Status status, Metadata trailers) {
    com.google.rpc.Status details;
    try {
      details = StatusProto.fromStatusAndTrailers(status, trailers);
    } catch (IllegalArgumentException e) {
      // Details whose code disagrees with the status are not to be trusted.
      return NONE;
    }
    if (details == null) {
      return NONE;
    }
    for (Any any : details.getDetailsList()) {
      if (!any.is(RetryInfo.class)) {
        continue;
      }
      try {
        com.google.protobuf.Duration delay = any.unpack(RetryInfo.class).getRetryDelay();
        if (delay.getSeconds() < 0 || delay.getNanos() < 0) {
          return NONE;
        }
        long seconds = Math.min(delay.getSeconds(), TimeUnit.NANOSECONDS.toSeconds(Long.MAX_VALUE) - 1);
        return TimeUnit.SECONDS.toNanos(seconds) + delay.getNanos();
      } catch (InvalidProtocolBufferException e) {
        return NONE;
      }
    }
    return NONE;
  }
}
