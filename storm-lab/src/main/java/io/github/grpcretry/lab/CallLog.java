package io.github.grpcretry.lab;

import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * The outcome of every call of one load: when it was due and sent, how it ended and when, and
 * whether the client's circuit breaker refused to send it.
 *
 * <p>Each slot is written by the load thread when the call is sent and once more by the thread
 * that delivers that call's close, and read only after every call has ended (the load's latch
 * orders the writes before the reads). Not otherwise thread-safe.
 */
final class CallLog {
  /** How grpc-retry describes a call that its circuit breaker did not send. */
  static final String NOT_SENT_PREFIX = "grpc-retry: not sent";

  private final int rate;
  private final Status.@Nullable Code[] codes;
  private final long[] sentNanos;
  private final long[] endedNanos;
  private final boolean[] rejectedLocally;

  CallLog(int calls, int rate) {
    this.rate = rate;
    this.codes = new Status.Code[calls];
    this.sentNanos = new long[calls];
    this.endedNanos = new long[calls];
    this.rejectedLocally = new boolean[calls];
  }

  /** Number of calls offered. */
  int size() {
    return codes.length;
  }

  /** Calls offered per second. */
  int rate() {
    return rate;
  }

  /** When call {@code i} was due: {@code i / rate} seconds after time zero. */
  long scheduledNanos(int i) {
    return i * 1_000_000_000L / rate;
  }

  void sent(int i, long elapsedNanos) {
    sentNanos[i] = elapsedNanos;
  }

  void record(int i, Status status, long elapsedNanos) {
    codes[i] = status.getCode();
    endedNanos[i] = elapsedNanos;
    String description = status.getDescription();
    rejectedLocally[i] = description != null && description.startsWith(NOT_SENT_PREFIX);
  }

  /** How call {@code i} ended, or null if it had not ended when the load stopped waiting. */
  Status.@Nullable Code code(int i) {
    return codes[i];
  }

  /** When call {@code i} was handed to the stub (a moment after it was due, at worst). */
  long sentNanos(int i) {
    return sentNanos[i];
  }

  /** When call {@code i} ended; meaningless if {@link #code} is null. */
  long endedNanos(int i) {
    return endedNanos[i];
  }

  /** Whether call {@code i} failed because a circuit breaker refused to send it at all. */
  boolean rejectedLocally(int i) {
    return rejectedLocally[i];
  }
}
