package io.github.grpcretry;

import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import org.jspecify.annotations.Nullable;

/**
 * Stops retry storms from crossing layers: when a handler fails because a call it made gave up
 * for overload, this server interceptor tells its own callers not to retry either.
 *
 * <p>In a service that is both a server and a client, a dependency that is down makes its own
 * calls fail. If those failures climb the call chain as retryable statuses, every layer above
 * retries, and the load multiplies with each layer (3 attempts at each of 5 layers is 243 times
 * the load at the bottom). {@link RetryInterceptor} marks the status of a call that stopped
 * retrying because the {@link RetryBudget} or the {@link CircuitBreaker} refused, or because its
 * server pushed back, with the
 * trailer {@link #GAVE_UP_KEY}. When a handler closes its call with such a status, either passing
 * the {@code StatusRuntimeException} on (its trailers travel with it) or wrapping it as the cause
 * of its own status, this interceptor replaces the marker with {@code grpc-retry-pushback-ms: -1}.
 * Clients that follow gRFC A6, grpc-java's built-in retry and {@link RetryInterceptor} among
 * them, then do not retry. The marker itself never leaves the server.
 *
 * <p>Wire it into the server, around the services that call other services:
 *
 * <pre>{@code
 * Server server = ServerBuilder.forPort(port)
 *     .addService(ServerInterceptors.intercept(new CheckoutService(paymentsChannel),
 *         UpstreamPushbackInterceptor.create()))
 *     .build();
 * }</pre>
 *
 * <p>Thread-safe and stateless.
 */
public final class UpstreamPushbackInterceptor implements ServerInterceptor {
  /**
   * The trailer with which {@link RetryInterceptor} marks a call that stopped retrying because of
   * overload: the value is {@code budget}, {@code pushback} or {@code breaker} (the call's circuit
   * breaker refused it, sent or not).
   */
  public static final Metadata.Key<String> GAVE_UP_KEY =
      Metadata.Key.of("retry-gave-up", Metadata.ASCII_STRING_MARSHALLER);

  private static final int MAX_CAUSE_DEPTH = 16;
  private static final UpstreamPushbackInterceptor INSTANCE = new UpstreamPushbackInterceptor();

  private UpstreamPushbackInterceptor() {}

  /** Returns the interceptor. */
  public static UpstreamPushbackInterceptor create() {
    return INSTANCE;
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    return next.startCall(
        new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
          @Override
          public void close(Status status, Metadata trailers) {
            boolean overloaded = trailers.containsKey(GAVE_UP_KEY) || markedCause(status.getCause());
            trailers.removeAll(GAVE_UP_KEY);
            if (overloaded && !status.isOk()) {
              trailers.removeAll(ServerHints.PUSHBACK_KEY);
              trailers.put(ServerHints.PUSHBACK_KEY, "-1");
            }
            super.close(status, trailers);
          }
        },
        headers);
  }

  /** Whether a status or exception says that a call gave up retrying because of overload. */
  public static boolean gaveUpForOverload(@Nullable Throwable error) {
    return markedCause(error);
  }

  private static boolean markedCause(@Nullable Throwable error) {
    Throwable t = error;
    for (int depth = 0; t != null && depth < MAX_CAUSE_DEPTH; depth++, t = t.getCause()) {
      Metadata trailers = null;
      if (t instanceof StatusRuntimeException) {
        trailers = ((StatusRuntimeException) t).getTrailers();
      } else if (t instanceof StatusException) {
        trailers = ((StatusException) t).getTrailers();
      }
      if (trailers != null && trailers.containsKey(GAVE_UP_KEY)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public String toString() {
    return "UpstreamPushbackInterceptor";
  }
}
