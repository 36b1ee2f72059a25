package io.github.grpcretry.stress;

import io.grpc.Status;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * One attempt as the server saw it: when it arrived, how many messages the server sent on it, the
 * status it closed with, and whether it ended (completed or cancelled).
 *
 * <p>Thread-safe: the server updates it from its own threads while checkers read it; every field
 * is atomic or volatile, so no lock is held while the server calls into gRPC.
 */
final class ServerAttempt {
  final long callId;
  final int number;
  final long startSeq;
  final long serial;
  /** The call's record while it is live; null for an attempt of a call already retired. */
  final @Nullable CallRecord record;
  private final AtomicInteger sent = new AtomicInteger();
  private volatile boolean headersSent;
  private volatile Status.@Nullable Code closeCode;
  private volatile @Nullable String end;
  private volatile long endSeq = -1;
  /** The idempotency key the attempt arrived with, or null. */
  volatile @Nullable String key;

  ServerAttempt(long callId, int number, long startSeq, long serial, @Nullable CallRecord record) {
    this.callId = callId;
    this.number = number;
    this.startSeq = startSeq;
    this.serial = serial;
    this.record = record;
  }

  void headersSent() {
    headersSent = true;
  }

  /** Counted after the message went to gRPC, before any later close: a close implies the count. */
  void messageSent() {
    sent.incrementAndGet();
  }

  void closing(Status status) {
    closeCode = status.getCode();
  }

  /** Returns false if the attempt had already ended. */
  boolean ended(String how, long seq) {
    synchronized (this) {
      if (end != null) {
        return false;
      }
      end = how;
      endSeq = seq;
      return true;
    }
  }

  int sent() {
    return sent.get();
  }

  boolean hasSentHeaders() {
    return headersSent;
  }

  Status.@Nullable Code closeCode() {
    return closeCode;
  }

  boolean hasEnded() {
    return end != null;
  }

  @Override
  public String toString() {
    String how = end;
    return "server attempt "
        + number
        + " of call "
        + callId
        + " (arrived at #"
        + startSeq
        + (key != null ? ", key " + key : "")
        + ", sent "
        + (headersSent ? "headers + " : "")
        + sent.get()
        + " messages"
        + (closeCode != null ? ", closed " + closeCode : "")
        + (how != null ? ", " + how + " at #" + endSeq : ", not ended")
        + ")";
  }
}
