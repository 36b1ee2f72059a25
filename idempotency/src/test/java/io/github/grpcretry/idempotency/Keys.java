package io.github.grpcretry.idempotency;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The client half, as tests need it: a {@link ClientInterceptor} placed above the retry
 * interceptor that gives each logical call one key in {@code idempotency-key}, so that every attempt
 * carries the same value. A call may bring its own key with {@code withOption(Keys.KEY, key)}.
 */
public final class Keys implements ClientInterceptor {
  public static final Metadata.Key<String> HEADER =
      Metadata.Key.of(IdempotencyInterceptor.DEFAULT_HEADER_NAME, Metadata.ASCII_STRING_MARSHALLER);
  public static final CallOptions.Key<String> KEY = CallOptions.Key.create("test-idempotency-key");

  /** Returns a new key: 32 lower-case hex characters, 128 random bits. */
  public static String newKey() {
    byte[] bytes = new byte[16];
    ThreadLocalRandom.current().nextBytes(bytes);
    return HexFormat.of().formatHex(bytes);
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
    String chosen = options.getOption(KEY);
    String key = chosen != null ? chosen : newKey();
    return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
      @Override
      public void start(Listener<RespT> listener, Metadata headers) {
        headers.put(HEADER, key);
        super.start(listener, headers);
      }
    };
  }
}
