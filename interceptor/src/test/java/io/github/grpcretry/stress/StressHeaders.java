package io.github.grpcretry.stress;

import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.grpc.Metadata;
import org.jspecify.annotations.Nullable;

/**
 * The metadata keys and message tags by which the harness follows a call through its attempts.
 *
 * <p>The application puts {@link #CALL_ID} and {@link #SCRIPT} in the request headers (the
 * interceptor copies them to every attempt); the server reads the attempt number from {@link
 * #PREVIOUS_ATTEMPTS} and answers with {@link #ATTEMPT_TAG} ({@code "callId:attempt"}) in its
 * response headers and trailers, and with a tag {@code "callId:attempt:seq"} in every response
 * message: in {@code Item.id}, or as the only entry of {@code UploadSummary.ids}.
 *
 * <p>Thread-safe: constants and pure functions.
 */
final class StressHeaders {
  static final Metadata.Key<String> CALL_ID =
      Metadata.Key.of("stress-call-id", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> SCRIPT =
      Metadata.Key.of("stress-script", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> ATTEMPT_TAG =
      Metadata.Key.of("stress-attempt", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> PREVIOUS_ATTEMPTS =
      Metadata.Key.of("grpc-previous-rpc-attempts", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> PUSHBACK =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);

  private StressHeaders() {}

  /** The call id in request headers, or -1 when absent or malformed. */
  static long callId(Metadata headers) {
    String value = headers.get(CALL_ID);
    if (value == null) {
      return -1;
    }
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** The attempt number (0 for the first) from {@code grpc-previous-rpc-attempts}; -1 if garbled. */
  static int attemptNumber(Metadata headers) {
    String value = headers.get(PREVIOUS_ATTEMPTS);
    if (value == null) {
      return 0;
    }
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  static String attemptTag(long callId, int attempt) {
    return callId + ":" + attempt;
  }

  static String messageTag(long callId, int attempt, int seq) {
    return callId + ":" + attempt + ":" + seq;
  }

  /** The tag of a response message, or null if the message carries none. */
  static @Nullable Tag tagOf(Object message) {
    String text = null;
    if (message instanceof Item) {
      text = ((Item) message).getId();
    } else if (message instanceof UploadSummary && ((UploadSummary) message).getIdsCount() > 0) {
      text = ((UploadSummary) message).getIds(0);
    }
    return text == null ? null : Tag.parse(text);
  }

  /**
   * The attempt named by an {@link #ATTEMPT_TAG} of this call in headers or trailers: the
   * server's stamp. -1 when absent, -2 when it names another call.
   */
  static int taggedAttempt(@Nullable Metadata metadata, long callId) {
    String value = metadata == null ? null : metadata.get(ATTEMPT_TAG);
    if (value == null) {
      return -1;
    }
    Tag tag = Tag.parse(value + ":0");
    if (tag == null) {
      return -1;
    }
    return tag.callId() == callId ? tag.attempt() : -2;
  }

  /** What a server put in a response message: which call, which attempt, which position. */
  record Tag(long callId, int attempt, int seq) {
    static @Nullable Tag parse(String text) {
      String[] parts = text.split(":", -1);
      if (parts.length != 3) {
        return null;
      }
      try {
        return new Tag(
            Long.parseLong(parts[0]), Integer.parseInt(parts[1]), Integer.parseInt(parts[2]));
      } catch (NumberFormatException e) {
        return null;
      }
    }

    @Override
    public String toString() {
      return callId + ":" + attempt + ":" + seq;
    }
  }
}
