package com.example.orders;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCalls;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A client that retries through an in-process server whose first two attempts fail. */
public final class OrdersClient {
  private OrdersClient() {}

  public static void main(String[] args) throws Exception {
    AtomicInteger attempts = new AtomicInteger();
    String name = InProcessServerBuilder.generateName();
    Server server =
        InProcessServerBuilder.forName(name)
            .addService(
                ServerInterceptors.intercept(
                    Echo.service(),
                    new io.grpc.ServerInterceptor() {
                      @Override
                      public <ReqT, RespT> io.grpc.ServerCall.Listener<ReqT> interceptCall(
                          io.grpc.ServerCall<ReqT, RespT> call,
                          io.grpc.Metadata headers,
                          io.grpc.ServerCallHandler<ReqT, RespT> next) {
                        if (attempts.incrementAndGet() <= 2) {
                          call.close(Status.UNAVAILABLE, new io.grpc.Metadata());
                          return new io.grpc.ServerCall.Listener<>() {};
                        }
                        return next.startCall(call, headers);
                      }
                    }))
            .build()
            .start();
    ManagedChannel managed = InProcessChannelBuilder.forName(name).build();
    try {
      RetryInterceptor retry =
          RetryInterceptor.newBuilder()
              .defaultPolicy(
                  RetryPolicy.newBuilder()
                      .maxAttempts(3)
                      .initialBackoff(Duration.ofMillis(10))
                      .maxBackoff(Duration.ofMillis(20))
                      .retryableStatusCodes(Status.Code.UNAVAILABLE)
                      .build())
              .build();
      Channel channel = ClientInterceptors.intercept(managed, retry);
      String reply = ClientCalls.blockingUnaryCall(channel, Echo.SAY, CallOptions.DEFAULT, "hi");
      if (!reply.equals("echo: hi") || attempts.get() != 3) {
        throw new AssertionError(reply + " after " + attempts.get() + " attempts");
      }
      System.out.println("orders-client: " + reply + " after " + attempts.get() + " attempts");
    } finally {
      managed.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
