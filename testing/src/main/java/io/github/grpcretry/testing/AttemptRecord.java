package io.github.grpcretry.testing;

import static io.github.grpcretry.testing.GrpcValues.copy;
import static io.github.grpcretry.testing.GrpcValues.describe;

import io.grpc.Metadata;
import io.grpc.Status;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A snapshot of one attempt of a call as a {@link FaultInjector} saw it on the server side.
 *
 * <p>A record does not change after it is taken: to see requests that arrived later or the final
 * outcome, ask the injector for its attempts again (or wait with {@link
 * FaultInjector#awaitClosed}).
 *
 * <p>This class is immutable and thread-safe.
 */
public final class AttemptRecord {
  private final String fullMethodName;
  private final int previousAttempts;
  private final long startNanos;
  private final Metadata headers;
  private final List<Object> requests;
  private final @Nullable Status outcome;
  private final Fault fault;

  AttemptRecord(
      String fullMethodName,
      int previousAttempts,
      long startNanos,
      Metadata headers,
      List<Object> requests,
      @Nullable Status outcome,
      Fault fault) {
    this.fullMethodName = fullMethodName;
    this.previousAttempts = previousAttempts;
    this.startNanos = startNanos;
    this.headers = copy(headers);
    this.requests = List.copyOf(requests);
    this.outcome = outcome;
    this.fault = fault;
  }

  /** Returns the full name of the called method, such as {@code "pkg.Service/Method"}. */
  public String fullMethodName() {
    return fullMethodName;
  }

  /**
   * Returns the value of the request header {@code grpc-previous-rpc-attempts}: 0 when the header
   * is absent, -1 when it is not a non-negative decimal integer, so a malformed header shows up in
   * assertions.
   */
  public int previousAttempts() {
    return previousAttempts;
  }

  /**
   * Returns when the attempt reached the server, in nanoseconds of the injector's {@link
   * ManualClock}, or of {@link System#nanoTime()} when the injector has no clock.
   */
  public long startNanos() {
    return startNanos;
  }

  /** Returns a copy of the request headers the server received. */
  public Metadata headers() {
    return copy(headers);
  }

  /**
   * Returns the request messages the server side had read when the snapshot was taken, in order.
   * Faults that close the call at once read none.
   */
  public List<Object> requests() {
    return requests;
  }

  /**
   * Returns the status the server closed the attempt with, {@link Status.Code#CANCELLED} if the
   * client cancelled it or its deadline passed first, or null while the attempt is still open.
   */
  public @Nullable Status outcome() {
    return outcome;
  }

  /** Returns the fault applied, after any {@link Fault#randomly} draw: what really happened. */
  public Fault fault() {
    return fault;
  }

  @Override
  public String toString() {
    return "AttemptRecord{"
        + fullMethodName
        + ", previousAttempts="
        + previousAttempts
        + ", startNanos="
        + startNanos
        + ", fault="
        + fault
        + ", requests="
        + requests.size()
        + ", outcome="
        + (outcome == null ? "open" : describe(outcome))
        + "}";
  }
}
