package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.HedgingPolicy;
import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;

/** The client side and the checks of the exactly-once runs, shared with the Redis store's tests. */
public final class ExactlyOnceCheck {
  private ExactlyOnceCheck() {}

  /**
   * Returns {@code channel} with {@link RetryInterceptor}: retries of UNAVAILABLE and of timed-out
   * attempts ({@code perAttempt} each), with the policy's idempotency key, so that every attempt of
   * a logical call carries the same key. CreateItem is not idempotent: only the key lets the
   * interceptor retry it after a per-attempt timeout.
   */
  public static Channel retryingKeyedClient(Channel channel, Duration perAttempt) {
    RetryPolicy policy =
        RetryPolicy.newBuilder()
            .maxAttempts(20)
            .initialBackoff(Duration.ofMillis(2))
            .maxBackoff(Duration.ofMillis(20))
            .backoffMultiplier(2)
            .retryableStatusCodes(Status.Code.UNAVAILABLE)
            .perAttemptTimeout(perAttempt)
            .timeout(Duration.ofSeconds(20))
            .idempotencyKey(true)
            .build();
    RetryInterceptor retry =
        RetryInterceptor.newBuilder()
            .defaultPolicy(policy)
            .retryBudget(RetryBudget.unlimited())
            .build();
    return ClientInterceptors.intercept(channel, retry);
  }

  /**
   * Returns {@code channel} with {@link RetryInterceptor} hedging CreateItem: up to 5 attempts,
   * {@code hedgingDelay} apart, UNAVAILABLE non-fatal, every attempt with the call's one key.
   */
  public static Channel hedgingKeyedClient(Channel channel, Duration hedgingDelay) {
    HedgingPolicy policy =
        HedgingPolicy.newBuilder()
            .maxAttempts(5)
            .hedgingDelay(hedgingDelay)
            .nonFatalStatusCodes(Status.Code.UNAVAILABLE)
            .timeout(Duration.ofSeconds(20))
            .idempotencyKey(true)
            .build();
    RetryInterceptor retry =
        RetryInterceptor.newBuilder()
            .methodPolicy(ItemServiceGrpc.getCreateItemMethod(), policy)
            .retryBudget(RetryBudget.unlimited())
            .build();
    return ClientInterceptors.intercept(channel, retry);
  }

  /**
   * Makes {@code calls} CreateItem calls, {@code concurrency} at a time, one in 100 of them slow in
   * the handler, and checks that each succeeded with its own outcome and exactly one side effect.
   */
  public static void run(
      Channel channel, CountingItemService service, int calls, int concurrency)
      throws InterruptedException {
    // Connect first (GetItem has no faults and no key): a connection still being set up would
    // make the first attempts time out, which says nothing about the server half.
    ItemServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(20, TimeUnit.SECONDS)
        .getItem(io.github.grpcretry.demo.v1.GetItemRequest.getDefaultInstance());
    long executionsBefore = service.total.get();
    ItemServiceGrpc.ItemServiceStub stub = ItemServiceGrpc.newStub(channel);
    AtomicReferenceArray<Object> outcomes = new AtomicReferenceArray<>(calls);
    Semaphore inFlight = new Semaphore(concurrency);
    CountDownLatch done = new CountDownLatch(calls);
    for (int i = 0; i < calls; i++) {
      inFlight.acquire();
      int call = i;
      CreateItemRequest request =
          CreateItemRequest.newBuilder()
              .setItem(Item.newBuilder().setId(call % 100 == 0 ? "slow" : "a").setValue("call-" + call))
              .build();
      stub.createItem(
          request,
          new StreamObserver<>() {
            @Override
            public void onNext(Item item) {
              outcomes.set(call, item);
            }

            @Override
            public void onError(Throwable t) {
              outcomes.set(call, Status.fromThrowable(t));
              inFlight.release();
              done.countDown();
            }

            @Override
            public void onCompleted() {
              inFlight.release();
              done.countDown();
            }
          });
    }
    assertThat(done.await(60, TimeUnit.SECONDS)).as("all calls ended").isTrue();

    Set<String> orderIds = new HashSet<>();
    for (int i = 0; i < calls; i++) {
      Object outcome = outcomes.get(i);
      assertThat(outcome).as("call %d", i).isInstanceOf(Item.class);
      Item item = (Item) outcome;
      assertThat(item.getValue()).as("call %d got its own outcome", i).isEqualTo("call-" + i);
      assertThat(orderIds.add(item.getId())).as("order %s answered once", item.getId()).isTrue();
      assertThat(service.executions("call-" + i)).as("side effects of call %d", i).isEqualTo(1);
    }
    assertThat(service.total.get() - executionsBefore).isEqualTo(calls);
  }
}
