package io.github.grpcretry;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/** Shared names and builders of the interceptor's tests. */
final class Fixtures {
  static final MethodDescriptor<GetItemRequest, Item> GET = ItemServiceGrpc.getGetItemMethod();
  static final MethodDescriptor<PutItemRequest, Item> PUT = ItemServiceGrpc.getPutItemMethod();
  static final MethodDescriptor<CreateItemRequest, Item> CREATE =
      ItemServiceGrpc.getCreateItemMethod();
  static final MethodDescriptor<ListItemsRequest, Item> LIST = ItemServiceGrpc.getListItemsMethod();
  static final MethodDescriptor<Item, UploadSummary> UPLOAD =
      ItemServiceGrpc.getUploadItemsMethod();
  static final MethodDescriptor<Item, Item> SYNC = ItemServiceGrpc.getSyncItemsMethod();

  private Fixtures() {}

  /**
   * An interceptor builder on the manual clock, with a random draw of 0.5 so that A6 jitter is a
   * factor of exactly 1.0, and an unlimited budget, so that tests that are not about budgets never
   * hit one. Budget tests set their own.
   */
  static RetryInterceptor.Builder retryOn(ManualClock clock) {
    return RetryInterceptor.newBuilder()
        .scheduler(clock.scheduler())
        .ticker(clock.ticker())
        .random(() -> 0.5)
        .retryBudget(RetryBudget.unlimited());
  }

  /** A policy of {@code attempts} attempts, backoff 100 ms doubling up to 1 s, UNAVAILABLE. */
  static RetryPolicy.Builder policy(int attempts) {
    return RetryPolicy.newBuilder()
        .maxAttempts(attempts)
        .initialBackoff(Duration.ofMillis(100))
        .maxBackoff(Duration.ofSeconds(1))
        .backoffMultiplier(2.0)
        .retryableStatusCodes(Status.Code.UNAVAILABLE);
  }

  /** Waits (real time, bounded) until {@code count} timers are pending on the manual clock. */
  static void awaitTimers(ManualClock clock, int count) throws InterruptedException {
    org.assertj.core.api.Assertions.assertThat(
            clock.awaitPendingTasks(count, Duration.ofSeconds(10)))
        .as("%d timer(s) pending on the manual clock", count)
        .isTrue();
  }

  /**
   * Waits (real time, bounded) until the manual clock has exactly these pending delays: for a
   * timer that replaces another one armed on a different thread.
   */
  static void awaitPendingDelays(ManualClock clock, Duration... delays) throws InterruptedException {
    java.util.List<Duration> expected = java.util.List.of(delays);
    long end = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
    while (!clock.pendingDelays().equals(expected)) {
      org.assertj.core.api.Assertions.assertThat(System.nanoTime() - end)
          .as("pending delays %s within 10 s, still %s", expected, clock.pendingDelays())
          .isNegative();
      Thread.sleep(1);
    }
  }

  static GetItemRequest get(String id) {
    return GetItemRequest.newBuilder().setId(id).build();
  }

  static Item item(String id) {
    return Item.newBuilder().setId(id).setValue("v-" + id).build();
  }

  static Item item(String id, int payloadBytes) {
    return item(id).toBuilder()
        .setPayload(com.google.protobuf.ByteString.copyFrom(new byte[payloadBytes]))
        .build();
  }

  /** A budget that records what it is told and answers as the test says. */
  static final class RecordingBudget implements RetryBudget {
    final List<Outcome> outcomes = new CopyOnWriteArrayList<>();
    final List<AttemptKind> acquired = new CopyOnWriteArrayList<>();
    final AtomicBoolean allow = new AtomicBoolean(true);

    @Override
    public boolean tryAcquire(AttemptKind kind) {
      if (!allow.get()) {
        return false;
      }
      acquired.add(kind);
      return true;
    }

    final List<Integer> attemptNumbers = new CopyOnWriteArrayList<>();

    @Override
    public void recordOutcome(int attemptNumber, Outcome outcome) {
      attemptNumbers.add(attemptNumber);
      outcomes.add(outcome);
    }

    List<Outcome> outcomes() {
      return new ArrayList<>(outcomes);
    }
  }
}
