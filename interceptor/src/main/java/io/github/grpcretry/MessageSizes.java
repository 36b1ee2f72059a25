package io.github.grpcretry;

import com.google.protobuf.MessageLite;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import java.io.IOException;
import java.io.InputStream;

/** The serialized size of a request message, for the replay buffer's byte accounting. */
final class MessageSizes {
  private MessageSizes() {}

  /**
   * Returns the size in bytes of {@code message} as the marshaller would send it. Protobuf messages
   * know their size without serializing; other messages are marshalled and counted, which is
   * exact but costs a serialization.
   */
  static <ReqT> long sizeOf(MethodDescriptor<ReqT, ?> method, ReqT message) {
    if (message instanceof MessageLite) {
      return ((MessageLite) message).getSerializedSize();
    }
    try (InputStream stream = method.getRequestMarshaller().stream(message)) {
      if (stream instanceof KnownLength) {
        return stream.available();
      }
      long total = 0;
      byte[] chunk = new byte[8192];
      for (int n; (n = stream.read(chunk)) != -1; ) {
        total += n;
      }
      return total;
    } catch (IOException | RuntimeException e) {
      // A message that cannot be measured cannot be bounded: treat it as too large to keep. If the
      // marshaller is broken, the attempt's own sendMessage fails the call as a plain call fails.
      return Long.MAX_VALUE;
    }
  }
}
