package io.github.grpcretry.examples.serviceconfig;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.examples.quickstart.FlakyServer;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Per-method policies, twice: read from {@code retry-service-config.json} (the JSON grpc-java's
 * built-in retry reads) and built in code, side by side. Reads are retried up to 5 attempts,
 * CreateItem (not idempotent) never, the other methods of the service up to 2.
 *
 * <p>Run: {@code mvn -q -pl examples -am -DskipTests package exec:java
 * -Dexec.mainClass=io.github.grpcretry.examples.serviceconfig.ServiceConfigClient}
 */
public final class ServiceConfigClient {
  private static final String SERVICE = ItemServiceGrpc.SERVICE_NAME;

  private ServiceConfigClient() {}

  /** The interceptor built from the JSON file next to this class. */
  static RetryInterceptor fromServiceConfig() throws IOException {
    try (InputStream in =
        ServiceConfigClient.class.getResourceAsStream("retry-service-config.json")) {
      if (in == null) {
        throw new IOException("retry-service-config.json is missing from the classpath");
      }
      String json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      return RetryInterceptor.newBuilder().serviceConfig(json).build();
    }
  }

  /** The same policies, in code. */
  static RetryInterceptor fromBuilder() {
    RetryPolicy reads =
        RetryPolicy.newBuilder()
            .maxAttempts(5)
            .initialBackoff(Duration.ofMillis(10))
            .maxBackoff(Duration.ofMillis(200))
            .backoffMultiplier(2)
            .retryableStatusCodes(Status.Code.UNAVAILABLE)
            .timeout(Duration.ofSeconds(2))
            .build();
    RetryPolicy others =
        RetryPolicy.newBuilder()
            .maxAttempts(2)
            .initialBackoff(Duration.ofMillis(50))
            .maxBackoff(Duration.ofMillis(50))
            .backoffMultiplier(1)
            .retryableStatusCodes(Status.Code.UNAVAILABLE)
            .build();
    return RetryInterceptor.newBuilder()
        .methodPolicy(SERVICE + "/GetItem", reads)
        .methodPolicy(SERVICE + "/ListItems", reads)
        .methodPolicy(SERVICE + "/CreateItem", RetryPolicy.noRetry())
        .servicePolicy(SERVICE, others)
        .build();
  }

  public static void main(String[] args) throws Exception {
    int calls = args.length > 0 ? Integer.parseInt(args[0]) : 200;
    try (FlakyServer server = FlakyServer.start(0.3, 11)) {
      ManagedChannel managed =
          NettyChannelBuilder.forAddress("127.0.0.1", server.port())
              .usePlaintext()
              .disableRetry()
              .build();
      try {
        System.out.printf(
            Locale.ROOT, "A server failing 30%% of calls with UNAVAILABLE; %d calls per method.%n%n", calls);
        System.out.printf(
            Locale.ROOT, "%-14s %-12s %10s %16s%n", "interceptor", "method", "succeeded", "server attempts");
        for (String name : new String[] {"service config", "builder"}) {
          RetryInterceptor interceptor = name.equals("builder") ? fromBuilder() : fromServiceConfig();
          Channel channel = ClientInterceptors.intercept(managed, interceptor);
          ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
          run(name, "GetItem", calls, server, i -> stub.getItem(GetItemRequest.newBuilder().setId("g" + i).build()));
          run(name, "PutItem", calls, server,
              i -> stub.putItem(PutItemRequest.newBuilder().setItem(Item.newBuilder().setId("p" + i)).build()));
          run(name, "CreateItem", calls, server,
              i -> stub.createItem(CreateItemRequest.newBuilder().setItem(Item.newBuilder().setId("c" + i)).build()));
        }
      } finally {
        managed.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  private static void run(
      String interceptor, String method, int calls, FlakyServer server, Consumer<Integer> call) {
    long before = server.calls();
    int ok = 0;
    for (int i = 0; i < calls; i++) {
      try {
        call.accept(i);
        ok++;
      } catch (StatusRuntimeException e) {
        // counted as a failure
      }
    }
    System.out.printf(
        Locale.ROOT,
        "%-14s %-12s %9.1f%% %16d%n",
        interceptor,
        method,
        100.0 * ok / calls,
        server.calls() - before);
  }
}
