package io.github.grpcretry.idempotency;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A service with side effects that tests can count: every {@code CreateItem} creates an order
 * numbered from 1, and every {@code ListItems} counts as one execution of its prefix.
 *
 * <p>The request chooses the behaviour: an item id {@code "fail-CODE"} fails with that code and the
 * trailer {@code order-detail: CODE}; {@code "gate"} answers when {@link #gate} completes, or fails with
 * its exception; {@code
 * "slow"} answers after {@link #slowMillis} on {@link #timer}, ignoring cancellation, as a slow
 * backend does; {@code "throw"} throws; anything else answers at once. The value identifies the
 * logical call: executions are counted per value.
 *
 * <p>Thread-safe.
 */
public final class CountingItemService extends ItemServiceGrpc.ItemServiceImplBase {
  public static final Metadata.Key<String> DETAIL =
      Metadata.Key.of("order-detail", Metadata.ASCII_STRING_MARSHALLER);

  private final Map<String, AtomicInteger> executions = new ConcurrentHashMap<>();
  public final AtomicLong total = new AtomicLong();
  public volatile CompletableFuture<Void> gate = new CompletableFuture<>();
  public volatile long slowMillis = 100;
  private final ScheduledExecutorService timer;

  /** Creates a service whose slow answers run on {@code timer}. */
  public CountingItemService(ScheduledExecutorService timer) {
    this.timer = timer;
  }

  /** Returns how many times requests with this item value (or list prefix) executed. */
  public int executions(String value) {
    AtomicInteger count = executions.get(value);
    return count == null ? 0 : count.get();
  }

  @Override
  public void createItem(CreateItemRequest request, StreamObserver<Item> response) {
    String id = request.getItem().getId();
    String value = request.getItem().getValue();
    executions.computeIfAbsent(value, v -> new AtomicInteger()).incrementAndGet();
    long order = total.incrementAndGet();
    Item created = request.getItem().toBuilder().setId("order-" + order).build();
    if (id.startsWith("fail-")) {
      String code = id.substring("fail-".length());
      Metadata trailers = new Metadata();
      trailers.put(DETAIL, code);
      response.onError(
          Status.fromCode(Status.Code.valueOf(code)).withDescription("failed on purpose: " + value)
              .asRuntimeException(trailers));
    } else if (id.equals("throw")) {
      throw new IllegalStateException("thrown on purpose");
    } else if (id.equals("gate")) {
      gate.whenComplete(
          (ignored, error) -> {
            if (error != null) {
              response.onError(error);
            } else {
              answer(response, created);
            }
          });
    } else if (id.equals("slow")) {
      timer.schedule(() -> answer(response, created), slowMillis, TimeUnit.MILLISECONDS);
    } else {
      answer(response, created);
    }
  }

  /** Answers at once and counts nothing: for warming a channel up. */
  @Override
  public void getItem(GetItemRequest request, StreamObserver<Item> response) {
    answer(response, Item.newBuilder().setId(request.getId()).build());
  }

  @Override
  public void listItems(ListItemsRequest request, StreamObserver<Item> response) {
    executions.computeIfAbsent(request.getPrefix(), v -> new AtomicInteger()).incrementAndGet();
    long run = total.incrementAndGet();
    for (int i = 0; i < request.getLimit(); i++) {
      response.onNext(
          Item.newBuilder().setId(request.getPrefix() + "-" + i).setValue("run-" + run).build());
    }
    response.onCompleted();
  }

  private static void answer(StreamObserver<Item> response, Item item) {
    response.onNext(item);
    response.onCompleted();
  }
}
