package io.github.grpcretry.examples.quickstart;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Calls a flaky server twice over: once on a plain channel, once through {@link RetryInterceptor},
 * and prints how many calls succeeded each time.
 *
 * <p>Run it with {@code mvn -q -pl examples -am -DskipTests package exec:java}; the optional
 * arguments are the number of calls and the server's failure rate ({@code -Dexec.args="500 0.3"}).
 */
public final class QuickstartClient {
  private QuickstartClient() {}

  public static void main(String[] args) throws Exception {
    int calls = args.length > 0 ? Integer.parseInt(args[0]) : 300;
    double failureRate = args.length > 1 ? Double.parseDouble(args[1]) : 0.2;
    if (calls < 1) {
      throw new IllegalArgumentException("calls must be >= 1: " + calls);
    }
    System.out.printf(
        Locale.ROOT,
        "A server on loopback fails %.0f%% of its calls with UNAVAILABLE, independently.%n%n",
        failureRate * 100);
    System.out.printf(
        Locale.ROOT, "%-28s %8s %10s %14s%n", "client", "calls", "succeeded", "server attempts");
    try (FlakyServer server = FlakyServer.start(failureRate, 7)) {
      ManagedChannel managedChannel =
          NettyChannelBuilder.forAddress("127.0.0.1", server.port())
              // Only our interceptor retries; transparent retries are lost with it (see README).
              .disableRetry()
              .usePlaintext()
              .build();
      try {
        run("plain channel", managedChannel, calls, server);

        RetryPolicy policy =
            RetryPolicy.newBuilder()
                .maxAttempts(4)
                .initialBackoff(Duration.ofMillis(10))
                .maxBackoff(Duration.ofMillis(200))
                .backoffMultiplier(2.0)
                .retryableStatusCodes(Status.Code.UNAVAILABLE)
                .timeout(Duration.ofSeconds(5))
                .build();
        RetryInterceptor retry = RetryInterceptor.newBuilder().defaultPolicy(policy).build();
        Channel channel = ClientInterceptors.intercept(managedChannel, retry);
        run("grpc-retry, maxAttempts 4", channel, calls, server);
      } finally {
        managedChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  private static void run(String name, Channel channel, int calls, FlakyServer server) {
    long attemptsBefore = server.calls();
    int succeeded = 0;
    ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
    for (int i = 0; i < calls; i++) {
      try {
        stub.getItem(GetItemRequest.newBuilder().setId("item-" + i).build());
        succeeded++;
      } catch (StatusRuntimeException e) {
        // Counted as a failure; the status says why.
      }
    }
    System.out.printf(
        Locale.ROOT,
        "%-28s %8d %9.1f%% %14d%n",
        name,
        calls,
        100.0 * succeeded / calls,
        server.calls() - attemptsBefore);
  }
}
