package io.github.grpcretry.lab;

import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Open-loop clients: calls go out on a fixed schedule, {@code rate} per second, whatever the
 * answers do, as the requests of a fleet of users do. A closed loop (the next call after the last
 * answer) would slow down when the server does and hide the overload.
 *
 * <p>With several clients (channels), call {@code i} goes through client {@code i % clients}: the
 * fleet offers the same schedule in total, and each client sees an even share of it.
 *
 * <p>Each call is an async {@code GetItem} with its own deadline. The outcome of call {@code i}
 * (its status and when it ended) is written once, by whichever thread delivers its close, into slot
 * {@code i} of the {@link CallLog}; {@link #run} returns once every call has ended.
 *
 * <p>Not thread-safe: one instance runs one load on the calling thread.
 */
final class OpenLoopLoad {
  /** How long to wait for the last calls beyond their deadline before giving up on them. */
  private static final long GRACE_NANOS = TimeUnit.SECONDS.toNanos(5);
  /** How often the load reports its progress. */
  static final long PROGRESS_NANOS = TimeUnit.SECONDS.toNanos(2);

  /** Hears how far a load has got, from the load's thread. */
  @FunctionalInterface
  interface Progress {
    void at(long elapsedNanos, int sent, int succeeded);
  }

  private OpenLoopLoad() {}

  /**
   * Sends {@code rate * duration} calls through {@code channels}, call {@code i} at {@code i /
   * rate} seconds on {@code clock} through channel {@code i % channels.size()}, each with a
   * deadline of {@code deadlineNanos}, and waits for all of them to end. Tells {@code progress}
   * every {@link #PROGRESS_NANOS} while it sends.
   */
  static CallLog run(
      List<Channel> channels,
      LabClock clock,
      int rate,
      long durationNanos,
      long deadlineNanos,
      Progress progress)
      throws InterruptedException {
    int calls = (int) Math.min(Integer.MAX_VALUE - 8, durationNanos * rate / 1_000_000_000L);
    CallLog log = new CallLog(calls, rate);
    CountDownLatch ended = new CountDownLatch(calls);
    AtomicInteger succeeded = new AtomicInteger();
    ItemServiceGrpc.ItemServiceStub[] stubs =
        channels.stream().map(ItemServiceGrpc::newStub).toArray(ItemServiceGrpc.ItemServiceStub[]::new);
    long nextProgress = PROGRESS_NANOS;
    for (int i = 0; i < calls; i++) {
      long due = log.scheduledNanos(i);
      for (long wait = due - clock.elapsedNanos(); wait > 0; wait = due - clock.elapsedNanos()) {
        LockSupport.parkNanos(wait);
      }
      if (due >= nextProgress) {
        progress.at(due, i, succeeded.get());
        nextProgress += PROGRESS_NANOS;
      }
      // Late by a hiccup of this thread? Then the call goes out now; its latency still counts
      // from when it was due, as a user who waited would count it.
      log.sent(i, clock.elapsedNanos());
      stubs[i % stubs.length]
          .withDeadlineAfter(deadlineNanos, TimeUnit.NANOSECONDS)
          .getItem(
              GetItemRequest.newBuilder().setId("item-" + i).build(),
              new Outcome(i, log, clock, ended, succeeded));
    }
    ended.await(deadlineNanos + GRACE_NANOS, TimeUnit.NANOSECONDS);
    return log;
  }

  /** Records one call's close. gRPC calls it once per call, never concurrently. */
  private static final class Outcome implements StreamObserver<Item> {
    private final int index;
    private final CallLog log;
    private final LabClock clock;
    private final CountDownLatch ended;
    private final AtomicInteger succeeded;

    Outcome(
        int index, CallLog log, LabClock clock, CountDownLatch ended, AtomicInteger succeeded) {
      this.index = index;
      this.log = log;
      this.clock = clock;
      this.ended = ended;
      this.succeeded = succeeded;
    }

    @Override
    public void onNext(Item value) {}

    @Override
    public void onError(Throwable t) {
      end(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      succeeded.incrementAndGet();
      end(Status.OK);
    }

    private void end(Status status) {
      log.record(index, status, clock.elapsedNanos());
      // Counting down after the write publishes it to the thread that awaits the latch.
      ended.countDown();
    }
  }
}
