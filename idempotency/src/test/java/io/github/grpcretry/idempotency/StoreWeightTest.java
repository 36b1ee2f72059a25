package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import com.google.protobuf.ByteString;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The embedded store's bounds: weight under a flood of unique keys, and time to live. */
class StoreWeightTest {
  private static final long BOUND = 256 * 1024;

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final CountingItemService service = new CountingItemService(timer);
  private final ManualClock clock = ManualClock.create();
  private final CaffeineIdempotencyStore store =
      CaffeineIdempotencyStore.newBuilder()
          .maximumWeight(BOUND)
          .timeToLive(Duration.ofHours(1))
          .ticker(clock.ticker())
          .build();

  @RegisterExtension
  final GrpcServerExtension grpc =
      GrpcServerExtension.create()
          .addService(service)
          .addServerInterceptor(
              IdempotencyInterceptor.newBuilder()
                  .method(ItemServiceGrpc.getCreateItemMethod())
                  .singleTrustedCaller()
                  .store(store)
                  .build());

  @AfterEach
  void stop() throws InterruptedException {
    timer.shutdownNow();
    assertThat(timer.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  private static CreateItemRequest request(int i, int payloadBytes) {
    return CreateItemRequest.newBuilder()
        .setItem(
            Item.newBuilder()
                .setId("a")
                .setValue("call-" + i)
                .setPayload(ByteString.copyFrom(new byte[payloadBytes])))
        .build();
  }

  @Test
  void aFloodOfUniqueKeysStaysUnderTheWeightBound() {
    Channel channel = ClientInterceptors.intercept(grpc.channel(), new Keys());
    ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
    long maxSeen = 0;
    for (int i = 0; i < 5_000; i++) {
      // Responses echo the item: ~1 KiB each, so the bound holds ~200 of 5,000 outcomes.
      stub.createItem(request(i, 1000));
      if (i % 250 == 0) {
        maxSeen = Math.max(maxSeen, store.weightedSize());
      }
    }
    assertThat(maxSeen).isLessThanOrEqualTo(BOUND);
    assertThat(store.weightedSize()).isLessThanOrEqualTo(BOUND).isGreaterThan(BOUND / 2);
    assertThat(store.storedOutcomes()).isBetween(100L, 260L);
    assertThat(store.claimsHeld()).isZero();
  }

  @Test
  void anOutcomeHeavierThanTheWholeBoundIsNotKeptAndItsDuplicateExecutesAgain() {
    Channel channel = ClientInterceptors.intercept(grpc.channel(), new Keys());
    ItemServiceGrpc.ItemServiceBlockingStub stub =
        ItemServiceGrpc.newBlockingStub(channel).withOption(Keys.KEY, "big");
    stub.createItem(request(1, (int) BOUND));
    stub.createItem(request(1, (int) BOUND));
    assertThat(service.executions("call-1")).isEqualTo(2);
    assertThat(store.weightedSize()).isLessThanOrEqualTo(BOUND);
  }

  @Test
  void anOutcomeExpiresAfterItsTimeToLiveAndItsDuplicateExecutesAgain() {
    Channel channel = ClientInterceptors.intercept(grpc.channel(), new Keys());
    ItemServiceGrpc.ItemServiceBlockingStub stub =
        ItemServiceGrpc.newBlockingStub(channel).withOption(Keys.KEY, "k");
    stub.createItem(request(1, 10));
    clock.advance(Duration.ofMinutes(59));
    stub.createItem(request(1, 10));
    assertThat(service.executions("call-1")).isEqualTo(1);
    clock.advance(Duration.ofMinutes(2));
    stub.createItem(request(1, 10));
    assertThat(service.executions("call-1")).isEqualTo(2);
  }
}
