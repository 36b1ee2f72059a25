package io.github.grpcretry.idempotency.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.idempotency.CountingItemService;
import io.github.grpcretry.idempotency.ExactlyOnceCheck;
import io.github.grpcretry.idempotency.IdempotencyInterceptor;
import io.github.grpcretry.idempotency.IdempotencyKey;
import io.github.grpcretry.idempotency.Keys;
import io.github.grpcretry.testing.AttemptRecord;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Test;

/**
 * Two server replicas, each with its own interceptor and its own connection to one Redis, behind
 * one client whose attempts alternate between them: every retry reaches the other replica.
 * Together they execute each logical call exactly once. The service object is shared, as the
 * database behind a fleet is, so that side effects are counted across both.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS) // one Redis and one fleet for all tests: start-up is slow
class TwoReplicasTest {
  private static final Duration PER_ATTEMPT = Duration.ofMillis(150);

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final CountingItemService database = new CountingItemService(timer);
  private final List<Replica> replicas = new ArrayList<>();
  private final List<ManagedChannel> channels = new ArrayList<>();
  private RedisServer redis;

  /** One replica: its faults (outside the server half), its server half, its Redis connection. */
  private final class Replica {
    final Fault failBefore = Fault.fail(Status.UNAVAILABLE.withDescription("before"));
    final Fault loseResponse =
        Fault.failAfterMessages(0, Status.UNAVAILABLE.withDescription("response lost"));
    final FaultInjector before = FaultInjector.create();
    final FaultInjector lost = FaultInjector.create();
    final RedisIdempotencyStore store;
    final Server server;

    final int seed;

    Replica(int seed) throws Exception {
      this.seed = seed;
      store = RedisIdempotencyStore.newBuilder().uri(redis.uri()).build();
      IdempotencyInterceptor dedup =
          IdempotencyInterceptor.newBuilder()
              .method(ItemServiceGrpc.getCreateItemMethod())
              .singleTrustedCaller()
              .store(store)
              .build();
      server =
          NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
              .directExecutor()
              .addService(ServerInterceptors.intercept(database, dedup, lost, before))
              .build()
              .start();
    }

    void close() throws InterruptedException {
      server.shutdownNow();
      assertThat(server.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
      store.close();
    }
  }

  /** Sends call n to replica n mod 2: below the retry interceptor, attempt by attempt. */
  private static final class Alternating extends Channel {
    private final List<? extends Channel> targets;
    private final AtomicInteger next = new AtomicInteger();

    Alternating(List<? extends Channel> targets) {
      this.targets = targets;
    }

    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> newCall(
        MethodDescriptor<ReqT, RespT> method, CallOptions options) {
      return targets
          .get(Math.floorMod(next.getAndIncrement(), targets.size()))
          .newCall(method, options);
    }

    @Override
    public String authority() {
      return targets.get(0).authority();
    }
  }

  @BeforeAll
  void start() throws Exception {
    if (!RedisServer.installed()) {
      return; // each test then reports itself skipped, with the reason
    }
    redis = RedisServer.start();
    database.slowMillis = 3 * PER_ATTEMPT.toMillis();
    for (int i = 0; i < 2; i++) {
      Replica replica = new Replica(10 * i + 1);
      replicas.add(replica);
      channels.add(
          NettyChannelBuilder.forAddress("127.0.0.1", replica.server.getPort())
              .usePlaintext()
              .directExecutor()
              .build());
    }
    // Connect both now: a connection still being set up makes attempts time out, which says
    // nothing about the server half.
    for (ManagedChannel channel : channels) {
      ItemServiceGrpc.newBlockingStub(channel)
          .withDeadlineAfter(30, TimeUnit.SECONDS)
          .getItem(io.github.grpcretry.demo.v1.GetItemRequest.getDefaultInstance());
    }
  }

  @BeforeEach
  void faults() {
    RedisServer.assumeInstalled();
    for (Replica replica : replicas) {
      replica.before.reset();
      replica.lost.reset();
      replica.before.script(ItemServiceGrpc.getCreateItemMethod())
          .otherwise(Fault.randomly(0.1, replica.seed, replica.failBefore));
      replica.lost.script(ItemServiceGrpc.getCreateItemMethod())
          .otherwise(Fault.randomly(0.1112, replica.seed + 1, replica.loseResponse));
    }
  }

  @AfterAll
  void stop() throws Exception {
    for (ManagedChannel channel : channels) {
      channel.shutdownNow();
      assertThat(channel.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }
    for (Replica replica : replicas) {
      replica.close();
    }
    timer.shutdownNow();
    assertThat(timer.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    if (redis != null) {
      redis.close();
    }
  }

  @Test
  void exactlyOnceAcrossReplicasUnderFaultsAndSlowExecutions() throws Exception {
    Channel client = ExactlyOnceCheck.retryingKeyedClient(new Alternating(channels), PER_ATTEMPT);

    ExactlyOnceCheck.run(client, database, 600, 8);

    // Retries after lost responses met the other replica, which replayed from Redis.
    long lost = 0;
    long reached = 0;
    for (Replica replica : replicas) {
      List<AttemptRecord> attempts = replica.lost.attempts(ItemServiceGrpc.getCreateItemMethod());
      lost += attempts.stream().filter(a -> a.fault() == replica.loseResponse).count();
      reached += attempts.size();
    }
    assertThat(lost).isGreaterThan(20);
    assertThat(reached).isGreaterThan(600 + lost);
  }

  private void noFaults() {
    for (Replica replica : replicas) {
      replica.before.script(ItemServiceGrpc.getCreateItemMethod()).otherwise(Fault.pass());
      replica.lost.script(ItemServiceGrpc.getCreateItemMethod()).otherwise(Fault.pass());
    }
  }

  @Test
  void duplicatesAtOnceOnBothReplicasExecuteOnce() throws Exception {
    noFaults();
    ExecutorService callers = Executors.newFixedThreadPool(4);
    try {
      for (int round = 0; round < 30; round++) {
        String key = Keys.newKey();
        String value = "round-" + round;
        CreateItemRequest request =
            CreateItemRequest.newBuilder()
                .setItem(Item.newBuilder().setId("a").setValue(value))
                .build();
        CyclicBarrier start = new CyclicBarrier(4);
        List<Future<Item>> answers = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
          Channel replica = ClientInterceptors.intercept(channels.get(t % 2), new Keys());
          answers.add(
              callers.submit(
                  () -> {
                    start.await(10, TimeUnit.SECONDS);
                    return ItemServiceGrpc.newBlockingStub(replica)
                        .withOption(Keys.KEY, key)
                        .withDeadlineAfter(10, TimeUnit.SECONDS)
                        .createItem(request);
                  }));
        }
        Item first = answers.get(0).get(20, TimeUnit.SECONDS);
        for (Future<Item> answer : answers) {
          assertThat(answer.get(20, TimeUnit.SECONDS)).as("round %d", round).isEqualTo(first);
        }
        assertThat(database.executions(value)).as("round %d", round).isEqualTo(1);
      }
    } finally {
      callers.shutdownNow();
      assertThat(callers.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }
  }

  /** Waits, bounded, until both replicas' connections work again (Lettuce reconnects alone). */
  private void awaitReconnected() throws InterruptedException {
    for (Replica replica : replicas) {
      for (int i = 0; i < 200; i++) {
        try {
          replica.store
              .begin(IdempotencyKey.of("test", "probe/Probe", Keys.newKey()), new byte[32])
              .toCompletableFuture()
              .get(10, TimeUnit.SECONDS)
              .claim()
              .release();
          break;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
          Thread.sleep(50);
        }
      }
    }
  }

  @Test
  void whenRedisIsDownAKeyedRequestIsUnavailableAndNotExecuted() throws Exception {
    noFaults();
    redis.stop();
    StatusRuntimeException error;
    try {
      error =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () ->
                ItemServiceGrpc.newBlockingStub(
                        ClientInterceptors.intercept(channels.get(0), new Keys()))
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .createItem(
                        CreateItemRequest.newBuilder()
                            .setItem(Item.newBuilder().setValue("down"))
                            .build()));
    } finally {
      redis.restart();
      awaitReconnected();
    }
    assertThat(error.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(error.getStatus().getDescription()).contains("idempotency store");
    assertThat(database.executions("down")).isZero();
  }
}
