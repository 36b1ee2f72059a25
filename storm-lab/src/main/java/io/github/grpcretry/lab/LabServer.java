package io.github.grpcretry.lab;

import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * The demo {@code ItemService} on a loopback Netty server with a fixed capacity, the way a real
 * service has one: {@code workers} calls in progress at once, {@code queue} more waiting for a
 * worker, and anything beyond that rejected at once.
 *
 * <p>Before any of that, a small share of attempts fails at once with UNAVAILABLE, independently
 * and at any time, as on a flaky network path: the transient failures that retries exist for.
 *
 * <p>Only {@code GetItem} is served. Its work is a worker thread kept busy for the service time, so
 * the worker pool is the capacity: {@code workers / serviceTime} calls per second whatever the
 * machine's cores do. Like most real servers, it does not look at whether the client still waits:
 * a queued call whose client has given up (its deadline or attempt timeout passed) is still worked
 * on, and only then is the answer dropped. That wasted work is what lets retries keep a server
 * overloaded after the trigger has gone.
 *
 * <p>Overload is answered with RESOURCE_EXHAUSTED rather than UNAVAILABLE: the server is up and
 * shedding load, which is a different fact from the outage scenario's UNAVAILABLE, so the two stay
 * apart in the results. It is also the status a cautious client does not retry by default
 * (grpc-retry's default policy retries only UNAVAILABLE); the lab's retrying set-ups list it on
 * purpose, as many real configurations do.
 *
 * <p>Thread-safe: requests arrive on Netty's threads, work runs on the worker pool, and the counters
 * are lock-free.
 */
final class LabServer implements AutoCloseable {
  /** gRFC A6's pushback trailer, which the shedding scenario sends. */
  private static final Metadata.Key<String> PUSHBACK =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);

  private final Server server;
  private final ThreadPoolExecutor workers;
  private final int workerCount;
  private final FaultSchedule faults;
  private final long serviceNanos;
  private final long bucketNanos;
  private final AtomicLongArray attemptsPerBucket;
  private final LongAdder attempts = new LongAdder();
  private final LongAdder attemptsDuringTrigger = new LongAdder();
  private final LongAdder rejected = new LongAdder();
  private final LongAdder failedFast = new LongAdder();
  private final LongAdder failedTransiently = new LongAdder();
  private final LongAdder shed = new LongAdder();
  /** Draws for transient failures; seeded, so the share is the same on every run. */
  private final Random random = new Random(20_250_101);
  private final LongAdder answered = new LongAdder();
  private final LongAdder wasted = new LongAdder();
  /** Null until {@link #startMeasuring}: calls before it (connection set-up) are not counted. */
  private volatile @Nullable LabClock clock;

  private LabServer(
      int workerCount, int queue, long serviceNanos, FaultSchedule faults, long bucketNanos,
      int buckets) throws IOException {
    this.faults = faults;
    this.workerCount = workerCount;
    this.serviceNanos = serviceNanos;
    this.bucketNanos = bucketNanos;
    this.attemptsPerBucket = new AtomicLongArray(buckets);
    this.workers =
        new ThreadPoolExecutor(
            workerCount,
            workerCount,
            0,
            TimeUnit.MILLISECONDS,
            queue == 0 ? new SynchronousQueue<>() : new ArrayBlockingQueue<>(queue),
            daemonThreads(),
            new ThreadPoolExecutor.AbortPolicy());
    this.workers.prestartAllCoreThreads();
    this.server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            // The handler only counts and hands the call to the worker pool; it never blocks.
            .directExecutor()
            .addService(new CapacityLimitedItemService())
            .build()
            .start();
  }

  /**
   * Starts a server on a free loopback port.
   *
   * @param buckets how many {@code bucketNanos}-wide buckets of attempts to keep; later attempts
   *     are counted in the totals only
   */
  static LabServer start(LabOptions options, FaultSchedule faults, long bucketNanos, int buckets)
      throws IOException {
    return new LabServer(
        options.workers(),
        options.queue(),
        options.serviceMillis() * 1_000_000L,
        faults,
        bucketNanos,
        buckets);
  }

  int port() {
    return server.getPort();
  }

  /** Starts counting attempts and applying the fault schedule, on {@code clock}'s time. */
  void startMeasuring(LabClock clock) {
    this.clock = clock;
  }

  /**
   * Waits until no call is queued or in progress, so that the counters are final.
   *
   * @return whether the server became idle in time
   */
  boolean awaitIdle(long timeoutNanos) throws InterruptedException {
    long end = System.nanoTime() + timeoutNanos;
    while (workers.getActiveCount() > 0 || !workers.getQueue().isEmpty()) {
      if (System.nanoTime() > end) {
        return false;
      }
      Thread.sleep(10);
    }
    return true;
  }

  /** What the server saw so far. */
  ServerCounts counts() {
    long[] buckets = new long[attemptsPerBucket.length()];
    for (int i = 0; i < buckets.length; i++) {
      buckets[i] = attemptsPerBucket.get(i);
    }
    return new ServerCounts(
        attempts.sum(),
        attemptsDuringTrigger.sum(),
        rejected.sum(),
        failedFast.sum(),
        failedTransiently.sum(),
        shed.sum(),
        answered.sum(),
        wasted.sum(),
        buckets);
  }

  /** Stops the server and its workers; an interrupt while waiting for them is kept for later. */
  @Override
  public void close() {
    server.shutdownNow();
    workers.shutdownNow();
    try {
      server.awaitTermination(5, TimeUnit.SECONDS);
      workers.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static ThreadFactory daemonThreads() {
    AtomicInteger next = new AtomicInteger();
    return task -> {
      Thread t = new Thread(task, "storm-lab-worker-" + next.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** Keeps the current thread busy for {@code nanos}, like a call's work would. */
  private static void work(long nanos) {
    long end = System.nanoTime() + nanos;
    for (long left = nanos; left > 0; left = end - System.nanoTime()) {
      LockSupport.parkNanos(left);
      if (Thread.currentThread().isInterrupted()) {
        return; // The server is closing.
      }
    }
  }

  /**
   * Totals and attempts per bucket, at the moment they were read.
   *
   * <p>Immutable.
   */
  record ServerCounts(
      long attempts,
      long attemptsDuringTrigger,
      long rejected,
      long failedFast,
      long failedTransiently,
      long shed,
      long answered,
      long wasted,
      long[] attemptsPerBucket) {

    /** What a set of replicas saw together. */
    static ServerCounts sum(List<ServerCounts> all) {
      long[] buckets = new long[all.isEmpty() ? 0 : all.get(0).attemptsPerBucket().length];
      long attempts = 0;
      long duringTrigger = 0;
      long rejected = 0;
      long failedFast = 0;
      long failedTransiently = 0;
      long shed = 0;
      long answered = 0;
      long wasted = 0;
      for (ServerCounts c : all) {
        attempts += c.attempts();
        duringTrigger += c.attemptsDuringTrigger();
        rejected += c.rejected();
        failedFast += c.failedFast();
        failedTransiently += c.failedTransiently();
        shed += c.shed();
        answered += c.answered();
        wasted += c.wasted();
        for (int i = 0; i < buckets.length; i++) {
          buckets[i] += c.attemptsPerBucket()[i];
        }
      }
      return new ServerCounts(
          attempts, duringTrigger, rejected, failedFast, failedTransiently, shed, answered, wasted,
          buckets);
    }
  }

  private final class CapacityLimitedItemService extends ItemServiceGrpc.ItemServiceImplBase {
    @Override
    public void getItem(GetItemRequest request, StreamObserver<Item> responseObserver) {
      LabClock measuring = clock;
      long now = measuring == null ? Long.MIN_VALUE : measuring.elapsedNanos();
      if (measuring != null) {
        attempts.increment();
        if (faults.inTrigger(now)) {
          attemptsDuringTrigger.increment();
        }
        long bucket = now / bucketNanos;
        if (bucket >= 0 && bucket < attemptsPerBucket.length()) {
          attemptsPerBucket.incrementAndGet((int) bucket);
        }
        if (faults.failsFast(now, random.nextDouble())) {
          failedFast.increment();
          responseObserver.onError(
              Status.UNAVAILABLE.withDescription("storm-lab: outage").asRuntimeException());
          return;
        }
        if (faults.failsTransiently(random.nextDouble())) {
          failedTransiently.increment();
          responseObserver.onError(
              Status.UNAVAILABLE
                  .withDescription("storm-lab: transient failure")
                  .asRuntimeException());
          return;
        }
      }
      if (measuring != null && faults.sheds(now, workers.getQueue().size(), workerCount)) {
        shed.increment();
        Metadata trailers = new Metadata();
        trailers.put(PUSHBACK, Integer.toString(Scenario.SHEDDING_PUSHBACK_MILLIS));
        responseObserver.onError(
            Status.RESOURCE_EXHAUSTED
                .withDescription("storm-lab: shedding load")
                .asRuntimeException(trailers));
        return;
      }
      ServerCallStreamObserver<Item> call = (ServerCallStreamObserver<Item>) responseObserver;
      // The worker finishes the call even when the client cancels; see the class comment.
      call.setOnCancelHandler(() -> {});
      try {
        workers.execute(() -> serve(request, call));
      } catch (RejectedExecutionException e) {
        if (measuring != null) {
          rejected.increment();
        }
        call.onError(
            Status.RESOURCE_EXHAUSTED
                .withDescription("storm-lab: server at capacity, queue full")
                .asRuntimeException());
      }
    }

    private void serve(GetItemRequest request, ServerCallStreamObserver<Item> call) {
      LabClock measuring = clock;
      long started = measuring == null ? Long.MIN_VALUE : measuring.elapsedNanos();
      work(faults.serviceNanos(started, serviceNanos));
      if (call.isCancelled()) {
        // The client gave up while the call waited or ran: the work is done, the answer is lost.
        if (measuring != null) {
          wasted.increment();
        }
        return;
      }
      if (measuring != null) {
        answered.increment();
      }
      call.onNext(
          Item.newBuilder().setId(request.getId()).setValue("value-" + request.getId()).build());
      call.onCompleted();
    }
  }
}
