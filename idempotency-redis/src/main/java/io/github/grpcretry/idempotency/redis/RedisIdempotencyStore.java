package io.github.grpcretry.idempotency.redis;

import io.github.grpcretry.idempotency.IdempotencyKey;
import io.github.grpcretry.idempotency.IdempotencyStore;
import io.github.grpcretry.idempotency.Lookup;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * An {@link IdempotencyStore} on Redis, shared by every server replica that connects to it, so that
 * a duplicate is answered by whichever replica it reaches.
 *
 * <p>The protocol, one Redis key per {@link IdempotencyKey} (named {@link Builder#keyPrefix} plus
 * the hex SHA-256 of the caller scope, method and key, so that keys of different callers are
 * different Redis keys and no scope is written in clear):
 *
 * <ul>
 *   <li><b>claim</b>: {@code SET key claim NX PX claimTimeToLive}, in one script with the {@code
 *       GET} that reads what is there when the {@code SET} did not happen. The claim holds a random
 *       token and the request hash. Exactly one replica's {@code SET} succeeds; it executes.
 *   <li><b>keep the claim alive</b>: while its request runs, the owner extends the claim's time to
 *       live every third of it, only if the claim is still its own. A replica that dies stops
 *       extending; its claim expires after at most {@code claimTimeToLive}, and a later duplicate
 *       executes.
 *   <li><b>complete</b>: replace the claim, only if it is still the owner's, by the outcome and the
 *       request hash, with {@link Builder#timeToLive}. <b>release</b>: delete the claim, only if it
 *       is still the owner's.
 *   <li><b>wait</b>: a duplicate that finds a claim polls the key every {@link
 *       Builder#pollInterval} until it holds an outcome (replayed), disappears or changes owner
 *       (the duplicate tries to claim again). The wait ends when the duplicate's call ends, at its
 *       deadline at the latest, and the claim's expiry bounds it too.
 * </ul>
 *
 * <p>Why polling and not pub/sub: duplicates are rare (retries and hedges), so a poll per waiter
 * every few tens of milliseconds costs Redis little; an expired claim publishes nothing (keyspace
 * notifications are off by default), so a subscriber would need polling as a fallback anyway; and
 * pub/sub would take a second connection per replica and lose messages sent while it reconnects.
 *
 * <p>What is not kept: Redis decides under memory pressure ({@code maxmemory-policy}); an outcome it
 * evicted or never wrote (Redis unreachable at completion) is executed again by a later duplicate.
 * When Redis cannot be asked at {@code begin}, the stage fails and the interceptor refuses the
 * request with {@code UNAVAILABLE}, executing nothing. Commands time out after {@link
 * Builder#commandTimeout}, and are refused at once while the connection is down.
 *
 * <p>This class is thread-safe. It owns one connection, and one timer thread unless given a
 * scheduler; {@link #close()} releases them.
 */
public final class RedisIdempotencyStore implements IdempotencyStore, AutoCloseable {
  private static final Logger logger = Logger.getLogger(RedisIdempotencyStore.class.getName());

  /** The default time to live of an outcome: 24 hours, as Stripe keeps its idempotency keys. */
  public static final Duration DEFAULT_TIME_TO_LIVE = Duration.ofHours(24);
  /** The default time to live of a claim whose owner stopped extending it: 10 seconds. */
  public static final Duration DEFAULT_CLAIM_TIME_TO_LIVE = Duration.ofSeconds(10);
  /** The default interval at which a waiting duplicate looks again: 20 milliseconds. */
  public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofMillis(20);
  /** The default time a Redis command may take: 2 seconds. */
  public static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(2);
  /** The default prefix of the keys this store writes. */
  public static final String DEFAULT_KEY_PREFIX = "grpc-idempotency:";

  private static final byte CLAIM = 'C';
  private static final byte OUTCOME = 'O';
  private static final int TOKEN_BYTES = 16;
  private static final int HASH_BYTES = 32;

  private static final String CLAIM_SCRIPT =
      "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end\n"
          + "return redis.call('GET', KEYS[1])";
  private static final String COMPLETE_SCRIPT =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
          + "  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1\n"
          + "end\n"
          + "return 0";
  private static final String RELEASE_SCRIPT =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
          + "return 0";
  private static final String RENEW_SCRIPT =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
          + "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
          + "end\n"
          + "return 0";

  private final RedisClient client;
  private final StatefulRedisConnection<byte[], byte[]> connection;
  private final RedisAsyncCommands<byte[], byte[]> redis;
  private final ScheduledExecutorService scheduler;
  private final boolean ownsScheduler;
  private final byte[] prefix;
  private final byte[] timeToLiveMillis;
  private final byte[] claimTimeToLiveMillis;
  private final long renewNanos;
  private final long pollNanos;
  private final String description;

  private RedisIdempotencyStore(Builder b, String uri) {
    RedisURI redisUri = RedisURI.create(uri);
    this.client = RedisClient.create(redisUri);
    client.setOptions(
        ClientOptions.builder()
            .timeoutOptions(TimeoutOptions.enabled(b.commandTimeout))
            // A request must not wait for a connection that is down: it fails, and is retried.
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
            .build());
    try {
      this.connection = client.connect(ByteArrayCodec.INSTANCE);
    } catch (RuntimeException e) {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      throw e;
    }
    this.redis = connection.async();
    if (b.scheduler != null) {
      this.scheduler = b.scheduler;
      this.ownsScheduler = false;
    } else {
      ScheduledThreadPoolExecutor timer =
          new ScheduledThreadPoolExecutor(
              1,
              r -> {
                Thread t = new Thread(r, "grpc-retry-idempotency-redis-timer");
                t.setDaemon(true);
                return t;
              });
      timer.setRemoveOnCancelPolicy(true);
      this.scheduler = timer;
      this.ownsScheduler = true;
    }
    this.prefix = b.keyPrefix.getBytes(StandardCharsets.UTF_8);
    this.timeToLiveMillis = ascii(b.timeToLive.toMillis());
    this.claimTimeToLiveMillis = ascii(b.claimTimeToLive.toMillis());
    this.renewNanos = b.claimTimeToLive.toNanos() / 3;
    this.pollNanos = b.pollInterval.toNanos();
    this.description =
        "RedisIdempotencyStore{uri="
            + redisUri.toString()
            + ", keyPrefix="
            + b.keyPrefix
            + ", timeToLive="
            + b.timeToLive
            + ", claimTimeToLive="
            + b.claimTimeToLive
            + ", pollInterval="
            + b.pollInterval
            + "}";
  }

  /** Returns a new builder. */
  public static Builder newBuilder() {
    return new Builder();
  }

  @Override
  public CompletionStage<Lookup> begin(IdempotencyKey key, byte[] requestHash) {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(requestHash, "requestHash");
    byte[] redisKey = redisKey(key);
    byte[] token = new byte[TOKEN_BYTES];
    ThreadLocalRandom.current().nextBytes(token);
    byte[] claim = concat(CLAIM, token, requestHash);
    CompletionStage<byte @Nullable []> found =
        redis.eval(
            CLAIM_SCRIPT,
            ScriptOutputType.VALUE,
            new byte[][] {redisKey},
            claim,
            claimTimeToLiveMillis);
    return found.thenApply(
        existing -> existing == null ? Lookup.claimed(new RedisClaim(redisKey, claim)) : read(redisKey, existing));
  }

  /** Returns the Redis key that {@code key} is kept under: the prefix, then a hex SHA-256. */
  public String redisKeyOf(IdempotencyKey key) {
    return new String(redisKey(key), StandardCharsets.UTF_8);
  }

  /**
   * Closes the connection and, unless it was given, the timer. Claims still held are not released:
   * they expire after their time to live, as a stopped replica's do.
   */
  @Override
  public void close() {
    if (ownsScheduler) {
      scheduler.shutdownNow();
    }
    connection.close();
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
  }

  @Override
  public String toString() {
    return description;
  }

  private Lookup read(byte[] redisKey, byte[] value) {
    if (value.length >= 1 + HASH_BYTES && value[0] == OUTCOME) {
      return Lookup.completed(
          Arrays.copyOfRange(value, 1, 1 + HASH_BYTES),
          Arrays.copyOfRange(value, 1 + HASH_BYTES, value.length));
    }
    if (value.length == 1 + TOKEN_BYTES + HASH_BYTES && value[0] == CLAIM) {
      byte[] hash = Arrays.copyOfRange(value, 1 + TOKEN_BYTES, value.length);
      CompletableFuture<@Nullable Lookup> next = new CompletableFuture<>();
      schedulePoll(redisKey, value, next);
      return Lookup.inFlight(hash, next);
    }
    throw new IllegalStateException(
        "the Redis key " + new String(redisKey, StandardCharsets.UTF_8) + " holds no claim and no"
            + " outcome of this store (is the key prefix shared with something else?)");
  }

  private void schedulePoll(
      byte[] redisKey, byte[] claim, CompletableFuture<@Nullable Lookup> next) {
    try {
      scheduler.schedule(() -> poll(redisKey, claim, next), pollNanos, TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException closed) {
      next.completeExceptionally(new IllegalStateException("the store is closed", closed));
    }
  }

  private void poll(byte[] redisKey, byte[] claim, CompletableFuture<@Nullable Lookup> next) {
    if (next.isDone()) {
      return; // the waiting call ended
    }
    redis
        .get(redisKey)
        .whenComplete(
            (value, error) -> {
              if (error != null) {
                next.completeExceptionally(error);
              } else if (value == null) {
                next.complete(null); // released or expired: claim it again
              } else if (Arrays.equals(value, claim)) {
                schedulePoll(redisKey, claim, next);
              } else if (value[0] == OUTCOME) {
                next.complete(read(redisKey, value));
              } else {
                next.complete(null); // another owner now: look again, and wait for that one
              }
            });
  }

  private byte[] redisKey(IdempotencyKey key) {
    MessageDigest digest = sha256();
    for (String part : new String[] {key.callerScope(), key.fullMethodName(), key.key()}) {
      byte[] bytes = part.getBytes(StandardCharsets.UTF_8);
      digest.update(ByteBuffer.allocate(4).putInt(bytes.length).array());
      digest.update(bytes);
    }
    byte[] hex = HexFormat.of().formatHex(digest.digest()).getBytes(StandardCharsets.US_ASCII);
    byte[] redisKey = Arrays.copyOf(prefix, prefix.length + hex.length);
    System.arraycopy(hex, 0, redisKey, prefix.length, hex.length);
    return redisKey;
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  private static byte[] concat(byte tag, byte[] first, byte[] second) {
    byte[] bytes = new byte[1 + first.length + second.length];
    bytes[0] = tag;
    System.arraycopy(first, 0, bytes, 1, first.length);
    System.arraycopy(second, 0, bytes, 1 + first.length, second.length);
    return bytes;
  }

  private static byte[] ascii(long value) {
    return Long.toString(value).getBytes(StandardCharsets.US_ASCII);
  }

  /** A claim this replica holds: kept alive until completed or released. */
  private final class RedisClaim implements Claim {
    private final byte[] redisKey;
    private final byte[] claim;
    private final AtomicBoolean finished = new AtomicBoolean();
    private final @Nullable ScheduledFuture<?> renewal;

    RedisClaim(byte[] redisKey, byte[] claim) {
      this.redisKey = redisKey;
      this.claim = claim;
      ScheduledFuture<?> timer;
      try {
        timer = scheduler.scheduleWithFixedDelay(this::renew, renewNanos, renewNanos, TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException closed) {
        timer = null; // the store is closing: the claim lives out its time to live
      }
      this.renewal = timer;
    }

    @Override
    public void complete(byte[] outcome) {
      Objects.requireNonNull(outcome, "outcome");
      if (finish()) {
        byte[] hash = Arrays.copyOfRange(claim, 1 + TOKEN_BYTES, claim.length);
        byte[] value = concat(OUTCOME, hash, outcome);
        redis
            .<Long>eval(
                COMPLETE_SCRIPT,
                ScriptOutputType.INTEGER,
                new byte[][] {redisKey},
                claim,
                value,
                timeToLiveMillis)
            .whenComplete((stored, error) -> report("store the outcome", stored, error));
      }
    }

    @Override
    public void release() {
      if (finish()) {
        redis
            .<Long>eval(RELEASE_SCRIPT, ScriptOutputType.INTEGER, new byte[][] {redisKey}, claim)
            .whenComplete((released, error) -> report("release the claim", released, error));
      }
    }

    private boolean finish() {
      if (!finished.compareAndSet(false, true)) {
        return false;
      }
      if (renewal != null) {
        renewal.cancel(false);
      }
      return true;
    }

    private void renew() {
      if (finished.get()) {
        return;
      }
      redis
          .<Long>eval(
              RENEW_SCRIPT,
              ScriptOutputType.INTEGER,
              new byte[][] {redisKey},
              claim,
              claimTimeToLiveMillis)
          .whenComplete(
              (renewed, error) -> {
                if (error == null && renewed != null && renewed == 0 && !finished.get()) {
                  logger.warning(
                      "lost the claim of " + new String(redisKey, StandardCharsets.UTF_8)
                          + " while its request still runs: another replica may execute it");
                  if (renewal != null) {
                    renewal.cancel(false);
                  }
                }
              });
    }

    private void report(String what, @Nullable Long done, @Nullable Throwable error) {
      String name = new String(redisKey, StandardCharsets.UTF_8);
      if (error != null) {
        logger.log(Level.WARNING, "could not " + what + " of " + name, error);
      } else if (done == null || done == 0) {
        logger.warning(
            "could not " + what + " of " + name + ": the claim had expired or changed owner");
      }
    }
  }

  /**
   * Builds a {@link RedisIdempotencyStore}; each setter checks its argument at once, {@link
   * #build()} checks that a URI was given and that the poll interval is shorter than the claim's
   * time to live, and connects.
   *
   * <p>Not thread-safe; {@code build()} leaves the builder reusable.
   */
  public static final class Builder {
    private @Nullable String uri;
    private String keyPrefix = DEFAULT_KEY_PREFIX;
    private Duration timeToLive = DEFAULT_TIME_TO_LIVE;
    private Duration claimTimeToLive = DEFAULT_CLAIM_TIME_TO_LIVE;
    private Duration pollInterval = DEFAULT_POLL_INTERVAL;
    private Duration commandTimeout = DEFAULT_COMMAND_TIMEOUT;
    private @Nullable ScheduledExecutorService scheduler;

    private Builder() {}

    /**
     * Sets the Redis server, as a Redis URI such as {@code redis://127.0.0.1:6379} or {@code
     * rediss://user:password@redis.internal:6380/0}; required.
     *
     * @throws IllegalArgumentException if it is not a Redis URI
     */
    public Builder uri(String uri) {
      Objects.requireNonNull(uri, "uri");
      try {
        RedisURI.create(uri);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException(
            "uri must be a Redis URI such as redis://host:6379: \"" + uri + "\"", e);
      }
      this.uri = uri;
      return this;
    }

    /**
     * Sets the prefix of every key this store writes; {@value #DEFAULT_KEY_PREFIX} by default.
     * Replicas that must see each other's keys use the same prefix.
     *
     * @throws IllegalArgumentException if the prefix is empty
     */
    public Builder keyPrefix(String prefix) {
      Objects.requireNonNull(prefix, "prefix");
      if (prefix.isEmpty()) {
        throw new IllegalArgumentException(
            "keyPrefix must not be empty: the store's keys must be told apart from others'");
      }
      this.keyPrefix = prefix;
      return this;
    }

    /**
     * Sets how long an outcome is kept; 24 hours by default.
     *
     * @throws IllegalArgumentException unless it is at least 1 millisecond
     */
    public Builder timeToLive(Duration timeToLive) {
      this.timeToLive = millis("timeToLive", timeToLive, Duration.ofMillis(1));
      return this;
    }

    /**
     * Sets how long a claim lives once its owner stops extending it (the owner died or lost
     * Redis); 10 seconds by default. Duplicates wait at most this long for a dead owner.
     *
     * @throws IllegalArgumentException unless it is at least 30 milliseconds
     */
    public Builder claimTimeToLive(Duration claimTimeToLive) {
      this.claimTimeToLive = millis("claimTimeToLive", claimTimeToLive, Duration.ofMillis(30));
      return this;
    }

    /**
     * Sets how often a waiting duplicate looks at the key again; 20 milliseconds by default.
     *
     * @throws IllegalArgumentException unless it is at least 1 millisecond
     */
    public Builder pollInterval(Duration pollInterval) {
      this.pollInterval = millis("pollInterval", pollInterval, Duration.ofMillis(1));
      return this;
    }

    /**
     * Sets how long a Redis command may take before it fails; 2 seconds by default.
     *
     * @throws IllegalArgumentException unless it is at least 1 millisecond
     */
    public Builder commandTimeout(Duration commandTimeout) {
      this.commandTimeout = millis("commandTimeout", commandTimeout, Duration.ofMillis(1));
      return this;
    }

    /**
     * Sets the timer for claim renewals and polls; by default the store owns one daemon thread.
     * A given scheduler is not shut down by {@link RedisIdempotencyStore#close()}.
     */
    public Builder scheduler(ScheduledExecutorService scheduler) {
      this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
      return this;
    }

    /**
     * Connects to Redis and returns the store.
     *
     * @throws IllegalStateException if no URI was given, or the poll interval is not shorter than
     *     the claim's time to live
     * @throws io.lettuce.core.RedisConnectionException if Redis cannot be reached
     */
    public RedisIdempotencyStore build() {
      if (uri == null) {
        throw new IllegalStateException("uri(...) is required: the Redis server to keep keys in");
      }
      if (pollInterval.compareTo(claimTimeToLive) >= 0) {
        throw new IllegalStateException(
            "pollInterval must be shorter than claimTimeToLive: "
                + pollInterval
                + " >= "
                + claimTimeToLive);
      }
      return new RedisIdempotencyStore(this, uri);
    }

    private static Duration millis(String name, Duration value, Duration min) {
      Objects.requireNonNull(value, name);
      if (value.compareTo(min) < 0) {
        throw new IllegalArgumentException(name + " must be >= " + min + ": " + value);
      }
      if (value.compareTo(Duration.ofDays(365)) > 0) {
        throw new IllegalArgumentException(name + " must be at most 365 days: " + value);
      }
      return value;
    }
  }
}
