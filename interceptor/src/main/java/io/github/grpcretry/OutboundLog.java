package io.github.grpcretry;

import io.grpc.ClientCall;

/**
 * What the application has sent on a call, in order, so that a new attempt can be given all of
 * it: request messages, and the other outbound operations as {@link Control} entries that know
 * how to replay themselves. Entries are numbered from the call's first operation; every attempt
 * keeps its own position in that numbering, and entries that no attempt will read again are
 * dropped from the front.
 *
 * <p>Not thread-safe: confined to its call's lock.
 */
final class OutboundLog {
  /** Outbound operations other than messages. */
  enum Control {
    HALF_CLOSE {
      @Override
      void replay(ClientCall<?, ?> call) {
        call.halfClose();
      }
    },
    COMPRESSION_ON {
      @Override
      void replay(ClientCall<?, ?> call) {
        call.setMessageCompression(true);
      }
    },
    COMPRESSION_OFF {
      @Override
      void replay(ClientCall<?, ?> call) {
        call.setMessageCompression(false);
      }
    };

    abstract void replay(ClientCall<?, ?> call);
  }

  private static final Object[] EMPTY = {};

  /** A ring buffer whose length is a power of two; entry {@code i} is at {@code i & mask}. */
  private Object[] ring = EMPTY;
  /** The number of the first entry kept. */
  private long head;
  /** The number the next entry will get. */
  private long tail;

  /** Appends an entry: a request message or a {@link Control}. */
  void append(Object entry) {
    if (tail - head == ring.length) {
      grow();
    }
    ring[(int) tail & (ring.length - 1)] = entry;
    tail++;
  }

  /** The entry numbered {@code index}, which must not have been dropped. */
  Object get(long index) {
    if (index < head || index >= tail) {
      throw new IndexOutOfBoundsException(index + " not in [" + head + ", " + tail + ")");
    }
    return ring[(int) index & (ring.length - 1)];
  }

  /** The number the next entry will get: every entry below it has been appended. */
  long end() {
    return tail;
  }

  /** Drops the entries numbered below {@code index}, so that nothing holds on to them. */
  void dropBefore(long index) {
    long stop = Math.min(index, tail);
    for (; head < stop; head++) {
      ring[(int) head & (ring.length - 1)] = null;
    }
  }

  /** Drops every entry. */
  void clear() {
    dropBefore(tail);
  }

  /** The number of entries kept. */
  int size() {
    return (int) (tail - head);
  }

  /**
   * The array that holds the entries now. Entries kept in it stay where they are until they are
   * dropped, even while others are appended (a full ring grows into a new array instead), so a
   * thread that read this under the lock may read kept entries from it afterwards without it.
   */
  Object[] ring() {
    return ring;
  }

  /** Where entry {@code index} is in {@code ring}, an array returned by {@link #ring()}. */
  static Object entry(Object[] ring, long index) {
    return ring[(int) index & (ring.length - 1)];
  }

  private void grow() {
    // Two entries hold a unary request: its message and the half-close.
    int length = ring.length == 0 ? 2 : ring.length * 2;
    Object[] bigger = new Object[length];
    for (long i = head; i < tail; i++) {
      bigger[(int) i & (length - 1)] = ring[(int) i & (ring.length - 1)];
    }
    ring = bigger;
  }
}
