package io.github.grpcretry.idempotency.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.idempotency.IdempotencyKey;
import io.github.grpcretry.idempotency.Lookup;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The claim and wait protocol, on a real Redis, with two stores standing for two replicas. */
class RedisIdempotencyStoreTest {
  private static final byte[] HASH = new byte[32];
  private static final byte[] OTHER_HASH = new byte[32];

  static {
    OTHER_HASH[0] = 1;
  }

  private RedisServer redis;
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @BeforeEach
  void startRedis() throws Exception {
    redis = RedisServer.start();
  }

  @AfterEach
  void stopAll() throws Exception {
    for (AutoCloseable closeable : closeables) {
      closeable.close();
    }
    if (redis != null) {
      redis.close();
    }
  }

  private RedisIdempotencyStore store(Duration claimTimeToLive) {
    RedisIdempotencyStore store =
        RedisIdempotencyStore.newBuilder()
            .uri(redis.uri())
            .claimTimeToLive(claimTimeToLive)
            .pollInterval(Duration.ofMillis(10))
            .build();
    closeables.add(store);
    return store;
  }

  private static Lookup await(java.util.concurrent.CompletionStage<Lookup> stage) throws Exception {
    return stage.toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static final IdempotencyKey KEY = IdempotencyKey.of("user:alice", "pkg.S/M", "k1");

  @Test
  void oneClaimsTheOtherWaitsAndReceivesTheOutcomeThenLaterOnesReplayIt() throws Exception {
    RedisIdempotencyStore a = store(Duration.ofSeconds(10));
    RedisIdempotencyStore b = store(Duration.ofSeconds(10));

    Lookup claimed = await(a.begin(KEY, HASH));
    Lookup waiting = await(b.begin(KEY, HASH));
    assertThat(claimed.kind()).isEqualTo(Lookup.Kind.CLAIMED);
    assertThat(waiting.kind()).isEqualTo(Lookup.Kind.IN_FLIGHT);
    assertThat(waiting.requestHash()).isEqualTo(HASH);
    assertThat(waiting.next()).isNotDone();

    claimed.claim().complete(new byte[] {7, 8, 9});

    Lookup received = waiting.next().get(10, TimeUnit.SECONDS);
    assertThat(received.kind()).isEqualTo(Lookup.Kind.COMPLETED);
    assertThat(received.outcome()).containsExactly(7, 8, 9);
    Lookup later = await(b.begin(KEY, OTHER_HASH));
    assertThat(later.kind()).isEqualTo(Lookup.Kind.COMPLETED);
    assertThat(later.requestHash()).isEqualTo(HASH);
    try (RedisClient client = RedisClient.create(redis.uri());
        StatefulRedisConnection<String, String> raw = client.connect()) {
      long ttl = raw.sync().pttl(a.redisKeyOf(KEY));
      assertThat(ttl).isGreaterThan(Duration.ofHours(23).toMillis());
    }
  }

  @Test
  void aReleasedClaimIsClaimedByTheWaiter() throws Exception {
    RedisIdempotencyStore a = store(Duration.ofSeconds(10));
    RedisIdempotencyStore b = store(Duration.ofSeconds(10));
    Lookup claimed = await(a.begin(KEY, HASH));
    Lookup waiting = await(b.begin(KEY, HASH));

    claimed.claim().release();

    assertThat(waiting.next().get(10, TimeUnit.SECONDS)).isNull(); // look again
    assertThat(await(b.begin(KEY, HASH)).kind()).isEqualTo(Lookup.Kind.CLAIMED);
  }

  @Test
  void theClaimOfAReplicaThatDiedExpiresAndADuplicateThenExecutes() throws Exception {
    RedisIdempotencyStore dying = store(Duration.ofMillis(300));
    RedisIdempotencyStore survivor = store(Duration.ofMillis(300));
    assertThat(await(dying.begin(KEY, HASH)).kind()).isEqualTo(Lookup.Kind.CLAIMED);
    dying.close(); // no release, no renewal: as if the process had died
    closeables.remove(dying);

    Lookup waiting = await(survivor.begin(KEY, HASH));
    assertThat(waiting.kind()).isEqualTo(Lookup.Kind.IN_FLIGHT);

    assertThat(waiting.next().get(10, TimeUnit.SECONDS)).isNull();
    assertThat(await(survivor.begin(KEY, HASH)).kind()).isEqualTo(Lookup.Kind.CLAIMED);
  }

  @Test
  void theClaimOfALiveOwnerOutlivesItsTimeToLive() throws Exception {
    RedisIdempotencyStore owner = store(Duration.ofMillis(300));
    RedisIdempotencyStore other = store(Duration.ofMillis(300));
    Lookup claimed = await(owner.begin(KEY, HASH));

    Thread.sleep(1000); // more than three times the claim's time to live

    Lookup waiting = await(other.begin(KEY, HASH));
    assertThat(waiting.kind()).isEqualTo(Lookup.Kind.IN_FLIGHT);
    claimed.claim().complete(new byte[] {1});
    assertThat(waiting.next().get(10, TimeUnit.SECONDS).outcome()).containsExactly(1);
  }

  @Test
  void keysAreScopedByCallerAndWriteNoScopeInClear() throws Exception {
    RedisIdempotencyStore a = store(Duration.ofSeconds(10));
    IdempotencyKey alice = IdempotencyKey.of("user:alice", "pkg.S/M", "k1");
    IdempotencyKey bob = IdempotencyKey.of("user:bob", "pkg.S/M", "k1");

    assertThat(await(a.begin(alice, HASH)).kind()).isEqualTo(Lookup.Kind.CLAIMED);
    assertThat(await(a.begin(bob, HASH)).kind()).isEqualTo(Lookup.Kind.CLAIMED);

    assertThat(a.redisKeyOf(alice)).isNotEqualTo(a.redisKeyOf(bob));
    assertThat(a.redisKeyOf(alice)).startsWith("grpc-idempotency:").doesNotContain("alice");
  }

  @Test
  void aWaiterThatIsCancelledStopsPolling() throws Exception {
    RedisIdempotencyStore a = store(Duration.ofSeconds(10));
    await(a.begin(KEY, HASH));
    CompletableFuture<Lookup> next = await(a.begin(KEY, HASH)).next();
    assertThat(next.cancel(false)).isTrue();
    assertThat(next.isCancelled()).isTrue();
  }

  @Test
  void whenRedisIsDownBeginFailsAtOnceAndRecoversWithIt() throws Exception {
    RedisIdempotencyStore a = store(Duration.ofSeconds(10));
    redis.stop();

    assertThatThrownBy(() -> await(a.begin(KEY, HASH))).isInstanceOf(ExecutionException.class);

    redis.restart();
    Lookup answer = null;
    for (int i = 0; i < 200 && answer == null; i++) {
      try {
        answer = await(a.begin(KEY, HASH)); // Lettuce reconnects on its own
      } catch (ExecutionException stillDown) {
        Thread.sleep(50);
      }
    }
    assertThat(answer).isNotNull();
    assertThat(answer.kind()).isEqualTo(Lookup.Kind.CLAIMED);
  }

  @Test
  void builderRules() {
    assertThatThrownBy(() -> RedisIdempotencyStore.newBuilder().build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("uri(...) is required");
    assertThatThrownBy(() -> RedisIdempotencyStore.newBuilder().uri("http://x"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("uri must be a Redis URI");
    assertThatThrownBy(() -> RedisIdempotencyStore.newBuilder().keyPrefix(""))
        .hasMessageContaining("keyPrefix must not be empty");
    assertThatThrownBy(() -> RedisIdempotencyStore.newBuilder().timeToLive(Duration.ZERO))
        .hasMessage("timeToLive must be >= PT0.001S: PT0S");
    assertThatThrownBy(
            () -> RedisIdempotencyStore.newBuilder().claimTimeToLive(Duration.ofMillis(10)))
        .hasMessage("claimTimeToLive must be >= PT0.03S: PT0.01S");
    assertThatThrownBy(() -> RedisIdempotencyStore.newBuilder().pollInterval(Duration.ZERO))
        .hasMessage("pollInterval must be >= PT0.001S: PT0S");
    assertThatThrownBy(() -> RedisIdempotencyStore.newBuilder().commandTimeout(Duration.ZERO))
        .hasMessage("commandTimeout must be >= PT0.001S: PT0S");
    assertThatThrownBy(
            () -> RedisIdempotencyStore.newBuilder().timeToLive(Duration.ofDays(400)))
        .hasMessage("timeToLive must be at most 365 days: PT9600H");
    assertThatThrownBy(
            () ->
                RedisIdempotencyStore.newBuilder()
                    .uri(redis.uri())
                    .claimTimeToLive(Duration.ofMillis(100))
                    .pollInterval(Duration.ofMillis(100))
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("pollInterval must be shorter than claimTimeToLive");
  }
}
