package io.github.grpcretry.examples.sharedbudget;

import io.github.grpcretry.BudgetStats;
import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.TokenBucketBudget;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.examples.quickstart.FlakyServer;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Several channels to one dependency that is down, each with its own interceptor: with one shared
 * {@link TokenBucketBudget} they spend one allowance of retries between them, so the dependency
 * sees barely more than the first attempts; with no budget each channel multiplies its load by
 * the attempt count.
 *
 * <p>Run: {@code mvn -q -pl examples -am -DskipTests package exec:java
 * -Dexec.mainClass=io.github.grpcretry.examples.sharedbudget.SharedBudgetClient}
 */
public final class SharedBudgetClient {
  private static final int CHANNELS = 4;

  private SharedBudgetClient() {}

  public static void main(String[] args) throws Exception {
    int callsPerChannel = args.length > 0 ? Integer.parseInt(args[0]) : 250;
    RetryPolicy policy =
        RetryPolicy.newBuilder()
            .maxAttempts(5)
            .initialBackoff(Duration.ofMillis(1))
            .maxBackoff(Duration.ofMillis(5))
            .build();
    try (FlakyServer down = FlakyServer.start(1.0, 3)) {
      System.out.printf(
          Locale.ROOT,
          "A dependency that is down; %d channels, %d calls each, maxAttempts 5.%n%n",
          CHANNELS,
          callsPerChannel);
      System.out.printf(Locale.ROOT, "%-34s %8s %16s %14s%n", "budget", "calls", "server attempts", "per call");
      run("none (RetryBudget.unlimited())", RetryBudget.unlimited(), policy, down, callsPerChannel);
      // One budget object given to every interceptor: they spend it together.
      TokenBucketBudget shared = TokenBucketBudget.create();
      run("one shared TokenBucketBudget", shared, policy, down, callsPerChannel);
      BudgetStats stats = shared.stats();
      System.out.printf(Locale.ROOT, "%nshared budget afterwards: %s%n", stats);
    }
  }

  private static void run(
      String name, RetryBudget budget, RetryPolicy policy, FlakyServer server, int calls)
      throws InterruptedException {
    List<ManagedChannel> channels = new ArrayList<>();
    long before = server.calls();
    try {
      for (int c = 0; c < CHANNELS; c++) {
        ManagedChannel managed =
            NettyChannelBuilder.forAddress("127.0.0.1", server.port())
                .usePlaintext()
                .disableRetry()
                .build();
        channels.add(managed);
      }
      for (int i = 0; i < calls; i++) {
        for (ManagedChannel managed : channels) {
          RetryInterceptor interceptor =
              RetryInterceptor.newBuilder().defaultPolicy(policy).retryBudget(budget).build();
          Channel channel = ClientInterceptors.intercept(managed, interceptor);
          try {
            ItemServiceGrpc.newBlockingStub(channel)
                .getItem(GetItemRequest.newBuilder().setId("x").build());
          } catch (StatusRuntimeException expected) {
            // The dependency is down.
          }
        }
      }
    } finally {
      for (ManagedChannel managed : channels) {
        managed.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
    long attempts = server.calls() - before;
    long total = (long) calls * CHANNELS;
    System.out.printf(
        Locale.ROOT, "%-34s %8d %16d %14.3f%n", name, total, attempts, attempts / (double) total);
  }
}
