package io.github.grpcretry.lab;

import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * The outcome of every call of one load: when it was due, how it ended and when.
 *
 * <p>Each slot is written once, by the thread that delivers that call's close, and read only after
 * every call has ended (the load's latch orders the writes before the reads). Not otherwise
 * thread-safe.
 */
final class CallLog {
  private final int rate;
  private final Status.@Nullable Code[] codes;
  private final long[] endedNanos;

  CallLog(int calls, int rate) {
    this.rate = rate;
    this.codes = new Status.Code[calls];
    this.endedNanos = new long[calls];
  }

  /** Number of calls offered. */
  int size() {
    return codes.length;
  }

  /** When call {@code i} was due: {@code i / rate} seconds after time zero. */
  long scheduledNanos(int i) {
    return i * 1_000_000_000L / rate;
  }

  void record(int i, Status.Code code, long elapsedNanos) {
    codes[i] = code;
    endedNanos[i] = elapsedNanos;
  }

  /** How call {@code i} ended, or null if it had not ended when the load stopped waiting. */
  Status.@Nullable Code code(int i) {
    return codes[i];
  }

  /** When call {@code i} ended; meaningless if {@link #code} is null. */
  long endedNanos(int i) {
    return endedNanos[i];
  }
}
