package io.github.grpcretry.idempotency;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.grpc.Deadline;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * An {@link IdempotencyStore} in this process's memory: outcomes in a Caffeine cache that expires
 * them after a time to live and bounds them by weight, claims in a map beside it.
 *
 * <p>Choose it for a single server replica, or for several behind routing that sends every request
 * of one caller and key to the same replica. Replicas that share no routing need a shared store.
 *
 * <p>What it keeps:
 *
 * <ul>
 *   <li>an outcome for {@link Builder#timeToLive} after it was stored (24 hours by default);
 *   <li>at most {@link Builder#maximumWeight} bytes of outcomes (64 MiB by default), counting the
 *       encoded outcome, the request hash, the key's strings and a fixed overhead per entry. When a
 *       new outcome does not fit, Caffeine evicts the ones least likely to be used again; an
 *       outcome heavier than the whole bound is not kept at all. A duplicate that arrives after its
 *       outcome was evicted executes again;
 *   <li>a claim for as long as its request runs, never evicted: duplicates that arrive meanwhile
 *       wait for it and receive its outcome from the claim itself, even if the cache then does not
 *       keep it.
 * </ul>
 *
 * <p>Everything is lost when the process stops: a duplicate that reaches a restarted server
 * executes again.
 *
 * <p>This class is thread-safe; {@link #begin} never blocks beyond a short lock on the key.
 */
public final class CaffeineIdempotencyStore implements IdempotencyStore {
  /** The default time to live of an outcome: 24 hours, as Stripe keeps its idempotency keys. */
  public static final Duration DEFAULT_TIME_TO_LIVE = Duration.ofHours(24);
  /** The default bound on the weight of kept outcomes: 64 MiB. */
  public static final long DEFAULT_MAXIMUM_WEIGHT = 64L << 20;
  /** What an entry costs beyond its bytes and strings: the entry, key, value and array headers. */
  static final int ENTRY_OVERHEAD = 160;

  private final Cache<IdempotencyKey, Stored> outcomes;
  private final ConcurrentHashMap<IdempotencyKey, Pending> claims = new ConcurrentHashMap<>();
  private final Duration timeToLive;
  private final long maximumWeight;

  private CaffeineIdempotencyStore(Builder b) {
    this.timeToLive = b.timeToLive;
    this.maximumWeight = b.maximumWeight;
    Deadline.Ticker ticker = b.ticker;
    this.outcomes =
        Caffeine.newBuilder()
            .expireAfterWrite(b.timeToLive)
            .maximumWeight(b.maximumWeight)
            .weigher((IdempotencyKey key, Stored stored) -> weight(key, stored))
            .ticker(ticker::nanoTime)
            // Evict on the writing thread, so that the bound holds when put() returns rather
            // than after a task on the common pool has run.
            .executor(Runnable::run)
            .build();
  }

  /** Returns a store with the default time to live and weight bound. */
  public static CaffeineIdempotencyStore create() {
    return newBuilder().build();
  }

  /** Returns a new builder. */
  public static Builder newBuilder() {
    return new Builder();
  }

  @Override
  public CompletionStage<Lookup> begin(IdempotencyKey key, byte[] requestHash) {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(requestHash, "requestHash");
    Lookup[] answer = new Lookup[1];
    // The claim map decides: a finishing claim stores its outcome before it leaves the map, so a
    // request that finds no claim here finds the outcome in the cache (unless it was evicted).
    claims.compute(
        key,
        (k, holder) -> {
          if (holder != null) {
            answer[0] = Lookup.inFlight(holder.requestHash, holder.done.copy());
            return holder;
          }
          Stored stored = outcomes.getIfPresent(k);
          if (stored != null) {
            answer[0] = Lookup.completed(stored.requestHash, stored.outcome);
            return null;
          }
          Pending claim = new Pending(k, requestHash);
          answer[0] = Lookup.claimed(claim);
          return claim;
        });
    return CompletableFuture.completedFuture(answer[0]);
  }

  /** Returns the number of outcomes kept (an estimate, as Caffeine counts). */
  public long storedOutcomes() {
    return outcomes.estimatedSize();
  }

  /** Returns the number of claims held by requests that are running. */
  public int claimsHeld() {
    return claims.size();
  }

  /**
   * Returns the weight of the kept outcomes in bytes, after any pending eviction has run; never more
   * than {@link #maximumWeight()} once it returns, unless outcomes are being stored meanwhile.
   */
  public long weightedSize() {
    outcomes.cleanUp();
    return outcomes.policy().eviction().orElseThrow().weightedSize().orElseThrow();
  }

  /** Returns the bound on the weight of kept outcomes, in bytes. */
  public long maximumWeight() {
    return maximumWeight;
  }

  /** Returns how long an outcome is kept. */
  public Duration timeToLive() {
    return timeToLive;
  }

  @Override
  public String toString() {
    return "CaffeineIdempotencyStore{timeToLive="
        + timeToLive
        + ", maximumWeight="
        + maximumWeight
        + ", outcomes="
        + outcomes.estimatedSize()
        + ", claims="
        + claims.size()
        + "}";
  }

  private static int weight(IdempotencyKey key, Stored stored) {
    long chars =
        (long) key.callerScope().length() + key.fullMethodName().length() + key.key().length();
    long weight = ENTRY_OVERHEAD + 2 * chars + stored.requestHash.length + stored.outcome.length;
    return (int) Math.min(Integer.MAX_VALUE, weight);
  }

  private static final class Stored {
    final byte[] requestHash;
    final byte[] outcome;

    Stored(byte[] requestHash, byte[] outcome) {
      this.requestHash = requestHash;
      this.outcome = outcome;
    }
  }

  /** A claim held by a running request; its waiters hold copies of {@code done}. */
  private final class Pending implements Claim {
    final IdempotencyKey key;
    final byte[] requestHash;
    final CompletableFuture<@Nullable Lookup> done = new CompletableFuture<>();
    private final AtomicBoolean finished = new AtomicBoolean();

    Pending(IdempotencyKey key, byte[] requestHash) {
      this.key = key;
      this.requestHash = requestHash;
    }

    @Override
    public void complete(byte[] outcome) {
      Objects.requireNonNull(outcome, "outcome");
      if (finished.compareAndSet(false, true)) {
        outcomes.put(key, new Stored(requestHash, outcome));
        claims.remove(key, this);
        done.complete(Lookup.completed(requestHash, outcome));
      }
    }

    @Override
    public void release() {
      if (finished.compareAndSet(false, true)) {
        claims.remove(key, this);
        done.complete(null);
      }
    }
  }

  /**
   * Builds a {@link CaffeineIdempotencyStore}; each setter checks its argument at once.
   *
   * <p>Not thread-safe; {@link #build()} leaves the builder reusable.
   */
  public static final class Builder {
    private Duration timeToLive = DEFAULT_TIME_TO_LIVE;
    private long maximumWeight = DEFAULT_MAXIMUM_WEIGHT;
    private Deadline.Ticker ticker = Deadline.getSystemTicker();

    private Builder() {}

    /**
     * Sets how long an outcome is kept after it was stored; 24 hours by default. It must outlast
     * the longest time in which a client may repeat a request with the same key.
     *
     * @throws IllegalArgumentException if {@code timeToLive} is not positive
     */
    public Builder timeToLive(Duration timeToLive) {
      Objects.requireNonNull(timeToLive, "timeToLive");
      if (timeToLive.isNegative() || timeToLive.isZero()) {
        throw new IllegalArgumentException("timeToLive must be > 0: " + timeToLive);
      }
      this.timeToLive = timeToLive;
      return this;
    }

    /**
     * Sets the bound on the weight of kept outcomes, in bytes; 64 MiB by default.
     *
     * @throws IllegalArgumentException if {@code bytes} is less than 1
     */
    public Builder maximumWeight(long bytes) {
      if (bytes < 1) {
        throw new IllegalArgumentException("maximumWeight must be >= 1 byte: " + bytes);
      }
      this.maximumWeight = bytes;
      return this;
    }

    /** Sets the source of time for the time to live; the system's by default. */
    public Builder ticker(Deadline.Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /** Returns a new, empty store. */
    public CaffeineIdempotencyStore build() {
      return new CaffeineIdempotencyStore(this);
    }
  }
}
