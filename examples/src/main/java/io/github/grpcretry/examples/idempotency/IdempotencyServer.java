package io.github.grpcretry.examples.idempotency;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.idempotency.CallerScope;
import io.github.grpcretry.idempotency.IdempotencyInterceptor;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The demo ItemService on loopback, whose non-idempotent CreateItem is deduplicated by {@link
 * IdempotencyInterceptor}, behind a network that loses a share of the responses after the item
 * was created.
 *
 * <p>Interceptors, outermost first: the lossy network, authentication (which names the caller),
 * the server half of idempotency keys, the service.
 */
public final class IdempotencyServer implements AutoCloseable {
  /** Who is calling, as the authentication interceptor established it. */
  static final Context.Key<String> CALLER = Context.key("caller");
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final Server server;
  private final AtomicLong created = new AtomicLong();

  private IdempotencyServer(double lossRate, long seed) throws IOException {
    IdempotencyInterceptor idempotency =
        IdempotencyInterceptor.newBuilder()
            .method(ItemServiceGrpc.getCreateItemMethod())
            .callerScope(CallerScope.fromContext(CALLER, caller -> "user:" + caller))
            .build();
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(
                // The last interceptor listed runs first.
                ServerInterceptors.intercept(
                    new DemoItemService(),
                    countCreations(),
                    idempotency,
                    authentication(),
                    lossyNetwork(lossRate, seed)))
            .build()
            .start();
  }

  /** Starts a server on a free loopback port that loses {@code lossRate} of its responses. */
  public static IdempotencyServer start(double lossRate, long seed) throws IOException {
    if (!(lossRate >= 0 && lossRate < 1)) {
      throw new IllegalArgumentException("lossRate must be in [0, 1): " + lossRate);
    }
    return new IdempotencyServer(lossRate, seed);
  }

  public int port() {
    return server.getPort();
  }

  /** Items the service really created (its side effects). */
  public long created() {
    return created.get();
  }

  @Override
  public void close() throws InterruptedException {
    server.shutdownNow().awaitTermination();
  }

  /** Stands in for real authentication: "Bearer NAME" authenticates NAME. */
  private static ServerInterceptor authentication() {
    return new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        String token = headers.get(AUTHORIZATION);
        if (token == null || !token.startsWith("Bearer ")) {
          call.close(Status.UNAUTHENTICATED.withDescription("no bearer token"), new Metadata());
          return new ServerCall.Listener<>() {};
        }
        Context context = Context.current().withValue(CALLER, token.substring(7));
        return Contexts.interceptCall(context, call, headers, next);
      }
    };
  }

  /** Counts the items the service creates. */
  private ServerInterceptor countCreations() {
    return new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        if (call.getMethodDescriptor().equals(ItemServiceGrpc.getCreateItemMethod())) {
          created.incrementAndGet();
        }
        return next.startCall(call, headers);
      }
    };
  }

  /**
   * Loses the response of {@code lossRate} of the calls after the service ran: the client sees
   * UNAVAILABLE and cannot tell whether the item was created.
   */
  private static ServerInterceptor lossyNetwork(double lossRate, long seed) {
    Random random = new Random(seed);
    return new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        boolean lose;
        synchronized (random) {
          lose = random.nextDouble() < lossRate;
        }
        if (!lose) {
          return next.startCall(call, headers);
        }
        return next.startCall(
            new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
              @Override
              public void sendHeaders(Metadata responseHeaders) {}

              @Override
              public void sendMessage(RespT message) {}

              @Override
              public void close(Status status, Metadata trailers) {
                super.close(Status.UNAVAILABLE.withDescription("response lost"), new Metadata());
              }
            },
            headers);
      }
    };
  }
}
