package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Duplicates sent at the same moment from real threads execute once and all get that outcome. */
class ConcurrentDuplicatesTest {
  private static final int ROUNDS = 300;
  private static final int MAX_THREADS = 8;

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final ExecutorService callers = Executors.newFixedThreadPool(MAX_THREADS);
  private final CountingItemService service = new CountingItemService(timer);
  private final CaffeineIdempotencyStore store = CaffeineIdempotencyStore.create();

  // The server runs handlers on its own threads, so that duplicates really overlap.
  @RegisterExtension
  final GrpcServerExtension grpc =
      GrpcServerExtension.create()
          .directExecutor(false)
          .addService(service)
          .addServerInterceptor(
              IdempotencyInterceptor.newBuilder()
                  .method(ItemServiceGrpc.getCreateItemMethod())
                  .singleTrustedCaller()
                  .store(store)
                  .build());

  @AfterEach
  void stop() throws InterruptedException {
    callers.shutdownNow();
    timer.shutdownNow();
    assertThat(callers.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    assertThat(timer.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void twoToEightDuplicatesAtOnceExecuteOnce() throws Exception {
    Channel channel = ClientInterceptors.intercept(grpc.channel(), new Keys());
    Random random = new Random(42);
    for (int round = 0; round < ROUNDS; round++) {
      int threads = 2 + random.nextInt(MAX_THREADS - 1);
      String key = Keys.newKey();
      String value = "round-" + round;
      CreateItemRequest request =
          CreateItemRequest.newBuilder().setItem(Item.newBuilder().setId("a").setValue(value)).build();
      CyclicBarrier start = new CyclicBarrier(threads);
      List<Future<Item>> answers = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        answers.add(
            callers.submit(
                () -> {
                  start.await(10, TimeUnit.SECONDS);
                  return ItemServiceGrpc.newBlockingStub(channel)
                      .withOption(Keys.KEY, key)
                      .withDeadlineAfter(10, TimeUnit.SECONDS)
                      .createItem(request);
                }));
      }
      Item first = answers.get(0).get(20, TimeUnit.SECONDS);
      for (Future<Item> answer : answers) {
        assertThat(answer.get(20, TimeUnit.SECONDS)).as("round %d", round).isEqualTo(first);
      }
      assertThat(service.executions(value)).as("round %d, %d threads", round, threads).isEqualTo(1);
    }
    assertThat(service.total.get()).isEqualTo(ROUNDS);
    assertThat(store.claimsHeld()).isZero();
  }
}
