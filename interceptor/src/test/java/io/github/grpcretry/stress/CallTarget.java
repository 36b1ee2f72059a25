package io.github.grpcretry.stress;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.MethodDescriptor;

/**
 * A channel that forwards every call to the one below it but names a target of its own, {@code
 * stress-call-<id>}: the interceptor keys its circuit breakers by target and puts the target in
 * every listener event, so the harness learns from it which call a breaker or an event belongs
 * to, on whatever thread it runs. The real {@code :authority} is the channel's own.
 *
 * <p>Thread-safe.
 */
final class CallTarget extends Channel {
  private static final String PREFIX = "stress-call-";

  private final Channel below;
  private final String authority;

  CallTarget(Channel below, long callId) {
    this.below = below;
    this.authority = PREFIX + callId;
  }

  /** The call id in a target made here, or -1. */
  static long callId(String target) {
    if (target == null || !target.startsWith(PREFIX)) {
      return -1;
    }
    try {
      return Long.parseLong(target.substring(PREFIX.length()));
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> newCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions callOptions) {
    return below.newCall(method, callOptions);
  }

  @Override
  public String authority() {
    return authority;
  }
}
