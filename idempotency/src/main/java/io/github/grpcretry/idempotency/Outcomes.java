package io.github.grpcretry.idempotency;

import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The byte form of an outcome (response headers, messages, status and trailers) and of a request's
 * hash; stateless.
 *
 * <p>Layout: a version byte, then tagged parts in the order they happened: {@code 'H'} and the
 * response headers (absent for a call closed without headers), {@code 'M'} and one serialized
 * response message each, and last {@code 'C'}, the status code, description and trailers. Numbers
 * are big-endian; a metadata block is a count of entries, then per entry its name (ASCII) and value
 * (ASCII for text keys, raw for {@code -bin} keys), each preceded by its length.
 */
final class Outcomes {
  private static final byte VERSION = 1;
  private static final byte HEADERS = 'H';
  private static final byte MESSAGE = 'M';
  private static final byte CLOSE = 'C';
  private static final MessageDigest SHA_256 = sha256();

  private Outcomes() {}

  /** Returns the SHA-256 of {@code request} as {@code marshaller} serializes it. */
  static <T> byte[] requestHash(MethodDescriptor.Marshaller<T> marshaller, T request) {
    MessageDigest digest = newDigest();
    try (InputStream in = marshaller.stream(request)) {
      if (in instanceof Drainable) {
        ((Drainable) in)
            .drainTo(new DigestOutputStream(OutputStream.nullOutputStream(), digest));
      } else {
        byte[] chunk = new byte[4096];
        for (int n; (n = in.read(chunk)) > 0; ) {
          digest.update(chunk, 0, n);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("could not serialize the request to hash it", e);
    }
    return digest.digest();
  }

  private static MessageDigest newDigest() {
    try {
      // A clone of a digest that is never updated: cheaper than a provider look-up per call.
      return (MessageDigest) SHA_256.clone();
    } catch (CloneNotSupportedException e) {
      return sha256();
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  /**
   * Writes the byte form of one outcome while the handler produces it, and stops keeping anything
   * once it has grown past its limit.
   *
   * <p>Not thread-safe: the handler calls its {@code ServerCall} one thread at a time, and so this.
   */
  static final class Recorder {
    private final long limit;
    private @Nullable Buffer out = new Buffer();

    Recorder(long limit) {
      this.limit = limit;
      out.write(VERSION);
    }

    /** Whether the outcome outgrew the limit, so that nothing is kept. */
    boolean overflowed() {
      return out == null;
    }

    void headers(Metadata headers) {
      Buffer buffer = out;
      if (buffer != null) {
        buffer.write(HEADERS);
        writeMetadata(buffer, headers);
        checkLimit();
      }
    }

    <T> void message(MethodDescriptor.Marshaller<T> marshaller, T message) {
      Buffer buffer = out;
      if (buffer == null) {
        return;
      }
      try (InputStream in = marshaller.stream(message)) {
        if (in instanceof KnownLength && in instanceof Drainable) {
          int length = in.available();
          if (buffer.size() + 5L + length > limit) {
            out = null;
            return;
          }
          buffer.write(MESSAGE);
          buffer.writeInt(length);
          ((Drainable) in).drainTo(buffer);
        } else {
          byte[] bytes = in.readAllBytes();
          buffer.write(MESSAGE);
          buffer.writeLengthPrefixed(bytes);
        }
      } catch (IOException e) {
        throw new UncheckedIOException("could not serialize a response to keep it", e);
      }
      checkLimit();
    }

    /** Ends the outcome; returns its bytes, or null if it outgrew the limit. */
    byte @Nullable [] close(Status status, Metadata trailers) {
      Buffer buffer = out;
      if (buffer == null) {
        return null;
      }
      buffer.write(CLOSE);
      buffer.writeInt(status.getCode().value());
      String description = status.getDescription();
      if (description == null) {
        buffer.writeInt(-1);
      } else {
        buffer.writeLengthPrefixed(description.getBytes(StandardCharsets.UTF_8));
      }
      writeMetadata(buffer, trailers);
      checkLimit();
      Buffer done = out;
      out = null;
      return done == null ? null : done.toByteArray();
    }

    private void checkLimit() {
      Buffer buffer = out;
      if (buffer != null && buffer.size() > limit) {
        out = null;
      }
    }
  }

  /** A decoded outcome, ready to be replayed. */
  static final class Decoded {
    final @Nullable Metadata headers;
    final List<byte[]> messages;
    final Status status;
    final Metadata trailers;

    Decoded(@Nullable Metadata headers, List<byte[]> messages, Status status, Metadata trailers) {
      this.headers = headers;
      this.messages = messages;
      this.status = status;
      this.trailers = trailers;
    }
  }

  /**
   * Reads an outcome written by a {@link Recorder}.
   *
   * @throws IllegalArgumentException if the bytes are not such an outcome
   */
  static Decoded decode(byte[] bytes) {
    ByteBuffer in = ByteBuffer.wrap(bytes);
    try {
      if (in.get() != VERSION) {
        throw new IllegalArgumentException("unknown outcome version " + bytes[0]);
      }
      Metadata headers = null;
      List<byte[]> messages = new ArrayList<>();
      while (true) {
        byte tag = in.get();
        if (tag == HEADERS && headers == null && messages.isEmpty()) {
          headers = readMetadata(in);
        } else if (tag == MESSAGE) {
          messages.add(readBytes(in));
        } else if (tag == CLOSE) {
          Status status = Status.fromCodeValue(in.getInt());
          int length = in.getInt();
          if (length >= 0) {
            byte[] description = new byte[length];
            in.get(description);
            status = status.withDescription(new String(description, StandardCharsets.UTF_8));
          }
          Metadata trailers = readMetadata(in);
          if (in.hasRemaining()) {
            throw new IllegalArgumentException(in.remaining() + " bytes after the close");
          }
          return new Decoded(headers, messages, status, trailers);
        } else {
          throw new IllegalArgumentException("unexpected part '" + (char) tag + "'");
        }
      }
    } catch (BufferUnderflowException | NegativeArraySizeException e) {
      throw new IllegalArgumentException("truncated outcome", e);
    }
  }

  private static void writeMetadata(Buffer out, Metadata metadata) {
    Set<String> names = metadata.keys();
    List<byte[]> entries = new ArrayList<>();
    for (String name : names) {
      if (name.equals("grpc-status") || name.equals("grpc-message")) {
        continue; // the transport writes these from the status
      }
      byte[] nameBytes = name.getBytes(StandardCharsets.US_ASCII);
      if (name.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
        for (byte[] value :
            metadata.getAll(Metadata.Key.of(name, Metadata.BINARY_BYTE_MARSHALLER))) {
          entries.add(nameBytes);
          entries.add(value);
        }
      } else {
        for (String value :
            metadata.getAll(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER))) {
          entries.add(nameBytes);
          entries.add(value.getBytes(StandardCharsets.US_ASCII));
        }
      }
    }
    out.writeInt(entries.size() / 2);
    for (byte[] entry : entries) {
      out.writeLengthPrefixed(entry);
    }
  }

  private static Metadata readMetadata(ByteBuffer in) {
    int count = in.getInt();
    if (count < 0) {
      throw new IllegalArgumentException("negative metadata count " + count);
    }
    Metadata metadata = new Metadata();
    for (int i = 0; i < count; i++) {
      String name = new String(readBytes(in), StandardCharsets.US_ASCII);
      byte[] value = readBytes(in);
      if (name.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
        metadata.put(Metadata.Key.of(name, Metadata.BINARY_BYTE_MARSHALLER), value);
      } else {
        metadata.put(
            Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER),
            new String(value, StandardCharsets.US_ASCII));
      }
    }
    return metadata;
  }

  private static byte[] readBytes(ByteBuffer in) {
    byte[] bytes = new byte[in.getInt()];
    in.get(bytes);
    return bytes;
  }

  /** A byte array stream with length-prefixed writes that cannot fail. */
  private static final class Buffer extends ByteArrayOutputStream {
    Buffer() {
      super(256);
    }

    void writeInt(int v) {
      write(v >>> 24);
      write(v >>> 16);
      write(v >>> 8);
      write(v);
    }

    void writeLengthPrefixed(byte[] bytes) {
      writeInt(bytes.length);
      write(bytes, 0, bytes.length);
    }
  }
}
