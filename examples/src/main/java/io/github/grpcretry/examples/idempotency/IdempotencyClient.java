package io.github.grpcretry.examples.idempotency;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Channel;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Creates items on a server that loses responses, through {@link RetryInterceptor}: once without
 * idempotency keys (every retry of a lost response creates the item again), once with them (the
 * server answers the retry with the stored outcome).
 *
 * <p>Run it with {@code mvn -q -pl examples -am -DskipTests package exec:java
 * -Dexec.mainClass=io.github.grpcretry.examples.idempotency.IdempotencyClient}; the optional
 * arguments are the number of calls and the share of responses lost ({@code -Dexec.args="500
 * 0.3"}).
 */
public final class IdempotencyClient {
  private IdempotencyClient() {}

  public static void main(String[] args) throws Exception {
    int calls = args.length > 0 ? Integer.parseInt(args[0]) : 200;
    double lossRate = args.length > 1 ? Double.parseDouble(args[1]) : 0.3;
    if (calls < 1) {
      throw new IllegalArgumentException("calls must be >= 1: " + calls);
    }
    System.out.printf(
        Locale.ROOT,
        "A server on loopback loses %.0f%% of its responses after creating the item.%n%n",
        lossRate * 100);
    System.out.printf(
        Locale.ROOT, "%-26s %8s %10s %14s%n", "client", "calls", "succeeded", "items created");
    try (IdempotencyServer server = IdempotencyServer.start(lossRate, 7)) {
      ManagedChannel managedChannel =
          NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
      try {
        RetryPolicy.Builder policy =
            RetryPolicy.newBuilder()
                .maxAttempts(5)
                .initialBackoff(Duration.ofMillis(10))
                .maxBackoff(Duration.ofMillis(100))
                .backoffMultiplier(2.0)
                .retryableStatusCodes(Status.Code.UNAVAILABLE)
                .timeout(Duration.ofSeconds(5));
        run("retries, no keys", retrying(managedChannel, policy.build()), calls, server);
        // idempotencyKey(true): the interceptor sends one new key per call, the same on every
        // attempt, in the idempotency-key header.
        run(
            "retries, idempotency keys",
            retrying(managedChannel, policy.idempotencyKey(true).build()),
            calls,
            server);
      } finally {
        managedChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  private static Channel retrying(Channel channel, RetryPolicy policy) {
    return ClientInterceptors.intercept(
        channel, RetryInterceptor.newBuilder().defaultPolicy(policy).build(), bearer("alice"));
  }

  private static ClientInterceptor bearer(String user) {
    Metadata token = new Metadata();
    token.put(IdempotencyServer.AUTHORIZATION, "Bearer " + user);
    return MetadataUtils.newAttachHeadersInterceptor(token);
  }

  private static void run(String name, Channel channel, int calls, IdempotencyServer server) {
    long createdBefore = server.created();
    int succeeded = 0;
    ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
    for (int i = 0; i < calls; i++) {
      try {
        stub.createItem(
            CreateItemRequest.newBuilder()
                .setItem(Item.newBuilder().setValue("order " + i))
                .build());
        succeeded++;
      } catch (StatusRuntimeException e) {
        // Counted as a failure; the status says why.
      }
    }
    System.out.printf(
        Locale.ROOT,
        "%-26s %8d %9.1f%% %14d%n",
        name,
        calls,
        100.0 * succeeded / calls,
        server.created() - createdBefore);
  }
}
