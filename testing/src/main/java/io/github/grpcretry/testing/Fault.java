package io.github.grpcretry.testing;

import static io.github.grpcretry.testing.Arguments.checkAtLeast;
import static io.github.grpcretry.testing.Arguments.checkNonNegative;
import static io.github.grpcretry.testing.Arguments.checkNotNull;
import static io.github.grpcretry.testing.GrpcValues.copy;
import static io.github.grpcretry.testing.GrpcValues.describe;

import com.google.protobuf.Any;
import com.google.rpc.RetryInfo;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.Random;
import org.jspecify.annotations.Nullable;

/**
 * What a {@link FaultInjector} does to one attempt of a call: pass it to the real service, fail it,
 * delay it, cut its response stream short, or never answer.
 *
 * <p>Faults are built with the static factories below; the {@code with...} methods return modified
 * copies. Every argument is checked when the fault is built, so a mistake surfaces in the test's
 * setup rather than in the middle of a call. Faults have identity equality, since neither {@link
 * Status} nor {@link Metadata} has value equality.
 *
 * <p>This class is immutable and thread-safe, except that a {@link #randomly} fault owns a seeded
 * random sequence that advances, under a lock, each time the fault is applied.
 */
public final class Fault {
  private static final Metadata.Key<String> PUSHBACK_KEY =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);

  /** The behaviours a fault can have; each uses a subset of the fields below. */
  enum Kind {
    PASS,
    FAIL,
    DELAY,
    FAIL_AFTER_MESSAGES,
    HANG,
    CLOSE_WITHOUT_RESPONSE,
    RANDOMLY
  }

  private static final Fault PASS = new Fault(Kind.PASS);
  private static final Fault HANG = new Fault(Kind.HANG);
  private static final Fault CLOSE_WITHOUT_RESPONSE = new Fault(Kind.CLOSE_WITHOUT_RESPONSE);

  private final Kind kind;
  private final @Nullable Status status; // FAIL, FAIL_AFTER_MESSAGES
  private final @Nullable Metadata trailers; // FAIL; never mutated once the fault exists
  private final @Nullable Duration retryDelay; // FAIL with RetryInfo
  private final @Nullable Duration delay; // DELAY
  private final @Nullable Fault next; // DELAY, RANDOMLY
  private final int messages; // FAIL_AFTER_MESSAGES
  private final double probability; // RANDOMLY
  private final long seed; // RANDOMLY
  private final @Nullable Random random; // RANDOMLY; guarded by itself

  private Fault(Kind kind) {
    this(kind, null, null, null, null, null, 0, 0, 0);
  }

  private Fault(
      Kind kind,
      @Nullable Status status,
      @Nullable Metadata trailers,
      @Nullable Duration retryDelay,
      @Nullable Duration delay,
      @Nullable Fault next,
      int messages,
      double probability,
      long seed) {
    this.kind = kind;
    this.status = status;
    this.trailers = trailers;
    this.retryDelay = retryDelay;
    this.delay = delay;
    this.next = next;
    this.messages = messages;
    this.probability = probability;
    this.seed = seed;
    this.random = kind == Kind.RANDOMLY ? new Random(seed) : null;
  }

  /** Returns the fault that lets the attempt reach the real service unchanged. */
  public static Fault pass() {
    return PASS;
  }

  /**
   * Returns a fault that closes the attempt at once with {@code status} and no trailers, never
   * calling the service.
   *
   * @throws IllegalArgumentException if {@code status} is OK (use {@link #closeWithoutResponse()}
   *     to end a call successfully without a response)
   */
  public static Fault fail(Status status) {
    checkNotNull(status, "status");
    if (status.isOk()) {
      throw new IllegalArgumentException(
          "status must not be OK: fail(...) fails calls; use closeWithoutResponse() to end a call"
              + " with OK and no response");
    }
    return new Fault(Kind.FAIL, status, new Metadata(), null, null, null, 0, 0, 0);
  }

  /**
   * Returns a fault that waits {@code delay} and then lets the attempt reach the service; see
   * {@link #delay(Duration, Fault)}.
   *
   * @throws IllegalArgumentException if {@code delay} is negative
   */
  public static Fault delay(Duration delay) {
    return delay(delay, PASS);
  }

  /**
   * Returns a fault that waits {@code delay} and then applies {@code then}.
   *
   * <p>The wait runs on the injector's {@link ManualClock} when it has one, otherwise in real time.
   * Requests that arrive meanwhile are held and handed over when the wait ends. If the client
   * cancels during the wait (or its deadline passes), the wait is abandoned and nothing further
   * happens.
   *
   * @throws IllegalArgumentException if {@code delay} is negative
   */
  public static Fault delay(Duration delay, Fault then) {
    checkNonNegative(delay, "delay");
    checkNotNull(then, "then");
    return new Fault(Kind.DELAY, null, null, null, delay, then, 0, 0, 0);
  }

  /**
   * Returns a fault that lets the attempt reach the service but closes it with {@code status} as
   * soon as the service has sent {@code n} response messages, dropping whatever the service sends
   * afterwards (its later messages and its own close never reach the client and do not fail).
   *
   * <p>With {@code n == 0} the call is closed when the service first sends a message or closes the
   * call, and its response headers are dropped too, so the service has done its work but the
   * client never learns the result, not even that the call reached the service: the "lost
   * response" failure. If the service finishes before sending {@code n > 0} messages, its own close
   * goes through. An OK {@code status} cuts a stream short without an error.
   *
   * @throws IllegalArgumentException if {@code n} is negative
   */
  public static Fault failAfterMessages(int n, Status status) {
    checkAtLeast(n, 0, "n");
    checkNotNull(status, "status");
    return new Fault(Kind.FAIL_AFTER_MESSAGES, status, null, null, null, null, n, 0, 0);
  }

  /**
   * Returns a fault that reads the attempt's requests but never answers; the call stays open until
   * the client cancels it or its deadline passes.
   */
  public static Fault hang() {
    return HANG;
  }

  /**
   * Returns a fault that closes the attempt at once with OK, without any response message.
   *
   * <p>A streaming response then simply ends empty. For methods that answer with exactly one
   * message (unary and client-streaming), grpc-java's server refuses to complete without a response
   * and cancels the stream with {@code INTERNAL: Completed without a response} (logging a warning),
   * so the client sees {@code CANCELLED}; the attempt's recorded outcome is still the OK the fault
   * closed with.
   */
  public static Fault closeWithoutResponse() {
    return CLOSE_WITHOUT_RESPONSE;
  }

  /**
   * Returns a fault that applies {@code fault} with the given probability and otherwise passes the
   * attempt through.
   *
   * <p>The draws come from a {@link Random} seeded once with {@code seed} when this fault is
   * created, one draw per attempt in arrival order, so the same script and the same arrival order
   * give the same outcomes. A fault used by several injectors or scripts shares its sequence.
   *
   * @throws IllegalArgumentException if {@code probability} is not between 0 and 1 inclusive
   */
  public static Fault randomly(double probability, long seed, Fault fault) {
    if (!(probability >= 0 && probability <= 1)) {
      throw new IllegalArgumentException(
          "probability must be between 0 and 1 inclusive: " + probability);
    }
    checkNotNull(fault, "fault");
    return new Fault(Kind.RANDOMLY, null, null, null, null, fault, 0, probability, seed);
  }

  /**
   * Returns a copy of this {@link #fail} fault that also sends the trailer {@code key: value};
   * adding a key again adds another value, as {@link Metadata} allows.
   *
   * @throws IllegalArgumentException if {@code value} is not printable ASCII
   * @throws IllegalStateException if this is not a {@code fail(...)} fault
   */
  public Fault withTrailer(Metadata.Key<String> key, String value) {
    checkNotNull(key, "key");
    checkPrintableAscii(value, "value");
    Metadata copy = trailersOfFail("withTrailer");
    copy.put(key, value);
    return withTrailers(copy);
  }

  /**
   * Returns a copy of this {@link #fail} fault whose trailers carry the server pushback {@code
   * grpc-retry-pushback-ms: millis}, replacing any earlier pushback; negative values tell a client
   * not to retry.
   *
   * @throws IllegalStateException if this is not a {@code fail(...)} fault
   */
  public Fault withPushback(long millis) {
    return withPushback(Long.toString(millis), "withPushback");
  }

  /**
   * Returns a copy of this {@link #fail} fault whose trailers carry {@code grpc-retry-pushback-ms}
   * with the raw value given, replacing any earlier pushback; use it to send values a client must
   * reject, such as {@code "soon"}.
   *
   * @throws IllegalArgumentException if {@code raw} is not printable ASCII
   * @throws IllegalStateException if this is not a {@code fail(...)} fault
   */
  public Fault withPushbackValue(String raw) {
    checkPrintableAscii(raw, "raw");
    return withPushback(raw, "withPushbackValue");
  }

  /**
   * Returns a copy of this {@link #fail} fault that carries a {@code google.rpc.RetryInfo} detail
   * with {@code retryDelay}, replacing any earlier one.
   *
   * <p>The call is closed with the status and trailers that {@link
   * StatusProto#toStatusRuntimeException(com.google.rpc.Status, Metadata)} builds from a {@code
   * google.rpc.Status} of this fault's code and description, so a client reads the detail with
   * {@link StatusProto#fromStatusAndTrailers(Status, Metadata)}. Negative delays are allowed, to
   * test how a client treats them.
   *
   * @throws IllegalStateException if this is not a {@code fail(...)} fault
   */
  public Fault withRetryInfo(Duration retryDelay) {
    checkNotNull(retryDelay, "retryDelay");
    Metadata copy = trailersOfFail("withRetryInfo");
    return new Fault(Kind.FAIL, status, copy, retryDelay, null, null, 0, 0, 0);
  }

  Kind kind() {
    return kind;
  }

  Status status() {
    return checkNotNull(status, "status of " + kind);
  }

  Duration delay() {
    return checkNotNull(delay, "delay of " + kind);
  }

  Fault next() {
    return checkNotNull(next, "next fault of " + kind);
  }

  int messages() {
    return messages;
  }

  /**
   * Returns the fault to apply to one attempt: random draws are made now, so the result contains no
   * {@link Kind#RANDOMLY} fault. Callers serialize calls to keep draws in arrival order.
   */
  Fault resolve() {
    switch (kind) {
      case RANDOMLY:
        boolean hit;
        Random draws = checkNotNull(random, "random");
        synchronized (draws) {
          hit = draws.nextDouble() < probability;
        }
        return hit ? next().resolve() : PASS;
      case DELAY:
        Fault resolved = next().resolve();
        return resolved == next ? this : delay(delay(), resolved);
      default:
        return this;
    }
  }

  /** Closes {@code call} with this {@link Kind#FAIL} fault's status and trailers. */
  void closeWithFailure(ServerCall<?, ?> call) {
    Metadata sent = copy(checkNotNull(trailers, "trailers"));
    Status failure = status();
    if (retryDelay != null) {
      com.google.rpc.Status detailed =
          com.google.rpc.Status.newBuilder()
              .setCode(failure.getCode().value())
              .setMessage(failure.getDescription() == null ? "" : failure.getDescription())
              .addDetails(
                  Any.pack(RetryInfo.newBuilder().setRetryDelay(toProto(retryDelay)).build()))
              .build();
      StatusRuntimeException packed = StatusProto.toStatusRuntimeException(detailed, sent);
      failure = packed.getStatus();
      Metadata packedTrailers = packed.getTrailers();
      sent = packedTrailers != null ? packedTrailers : sent;
    }
    call.close(failure, sent);
  }

  @Override
  public String toString() {
    switch (kind) {
      case PASS:
        return "pass()";
      case FAIL:
        StringBuilder text = new StringBuilder("fail(").append(describe(status())).append(')');
        if (trailers != null && !trailers.keys().isEmpty()) {
          text.append(".withTrailers(").append(trailers).append(')');
        }
        if (retryDelay != null) {
          text.append(".withRetryInfo(").append(retryDelay).append(')');
        }
        return text.toString();
      case DELAY:
        return "delay(" + delay + ", " + next + ")";
      case FAIL_AFTER_MESSAGES:
        return "failAfterMessages(" + messages + ", " + describe(status()) + ")";
      case HANG:
        return "hang()";
      case CLOSE_WITHOUT_RESPONSE:
        return "closeWithoutResponse()";
      case RANDOMLY:
        return "randomly(" + probability + ", " + seed + ", " + next + ")";
    }
    throw new AssertionError(kind);
  }

  private Metadata trailersOfFail(String method) {
    if (kind != Kind.FAIL || trailers == null) {
      throw new IllegalStateException(method + " applies only to Fault.fail(...), not to " + this);
    }
    return copy(trailers);
  }

  private Fault withPushback(String raw, String method) {
    Metadata copy = trailersOfFail(method);
    copy.discardAll(PUSHBACK_KEY);
    copy.put(PUSHBACK_KEY, raw);
    return withTrailers(copy);
  }

  private Fault withTrailers(Metadata newTrailers) {
    return new Fault(Kind.FAIL, status, newTrailers, retryDelay, null, null, 0, 0, 0);
  }

  private static void checkPrintableAscii(String value, String name) {
    checkNotNull(value, name);
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c < 0x20 || c > 0x7e) {
        throw new IllegalArgumentException(
            name
                + " must be printable ASCII (0x20 to 0x7E), as metadata values are: found 0x"
                + Integer.toHexString(c)
                + " at index "
                + i
                + " of \""
                + value
                + "\"");
      }
    }
  }

  private static com.google.protobuf.Duration toProto(Duration duration) {
    long seconds = duration.getSeconds();
    int nanos = duration.getNano();
    // java.time keeps nanos in [0, 1e9); protobuf wants seconds and nanos of the same sign.
    if (seconds < 0 && nanos > 0) {
      seconds += 1;
      nanos -= 1_000_000_000;
    }
    return com.google.protobuf.Duration.newBuilder().setSeconds(seconds).setNanos(nanos).build();
  }
}
