package io.github.grpcretry.demo;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An in-memory implementation of the demo {@code ItemService}, with one method of every call type.
 *
 * <p>Items live in a map keyed by id. A {@code GetItem} for an id that was never stored answers
 * with a synthetic item, so read paths work without setup. The service never fails on its own:
 * tests add failures with a server interceptor such as the testing kit's fault injector.
 *
 * <p>This class is thread-safe: the store is a concurrent map and each streaming call keeps its own
 * state, which gRPC delivers to one thread at a time.
 */
public final class DemoItemService extends ItemServiceGrpc.ItemServiceImplBase {
  private static final int DEFAULT_LIST_LIMIT = 3;

  private final Map<String, Item> items = new ConcurrentHashMap<>();
  private final AtomicLong nextId = new AtomicLong();

  /** Creates a service with an empty store. */
  public DemoItemService() {}

  /**
   * Answers with the stored item of the requested id, or with {@code Item{id, value="value-"+id}}
   * when none was stored.
   */
  @Override
  public void getItem(GetItemRequest request, StreamObserver<Item> responseObserver) {
    Item stored = items.get(request.getId());
    responseObserver.onNext(stored != null ? stored : syntheticItem(request.getId()));
    responseObserver.onCompleted();
  }

  /** Stores the request's item under its id, replacing any earlier one, and answers with it. */
  @Override
  public void putItem(PutItemRequest request, StreamObserver<Item> responseObserver) {
    Item item = request.getItem();
    items.put(item.getId(), item);
    responseObserver.onNext(item);
    responseObserver.onCompleted();
  }

  /**
   * Stores the request's item under a new id {@code "item-N"} ({@code N} counts from 1 per service
   * instance) and answers with the stored item.
   */
  @Override
  public void createItem(CreateItemRequest request, StreamObserver<Item> responseObserver) {
    Item item = request.getItem().toBuilder().setId("item-" + nextId.incrementAndGet()).build();
    items.put(item.getId(), item);
    responseObserver.onNext(item);
    responseObserver.onCompleted();
  }

  /**
   * Streams {@code limit} items (3 when {@code limit <= 0}) with ids {@code prefix + "-" + i} for
   * {@code i} from 0 and values {@code "value-" + id}, then completes; stops early if the client
   * cancels.
   */
  @Override
  public void listItems(ListItemsRequest request, StreamObserver<Item> responseObserver) {
    int limit = request.getLimit() > 0 ? request.getLimit() : DEFAULT_LIST_LIMIT;
    for (int i = 0; i < limit; i++) {
      // Sending on a cancelled stream throws; a cancelled client wants no more items anyway.
      if (isCancelled(responseObserver)) {
        return;
      }
      responseObserver.onNext(syntheticItem(request.getPrefix() + "-" + i));
    }
    responseObserver.onCompleted();
  }

  /**
   * Receives items until the client half-closes, then stores them all and answers with their count,
   * their total payload size in bytes and their ids in arrival order; an upload the client abandons
   * stores nothing.
   */
  @Override
  public StreamObserver<Item> uploadItems(StreamObserver<UploadSummary> responseObserver) {
    return new StreamObserver<>() {
      private final List<Item> received = new ArrayList<>();
      private long bytes;

      @Override
      public void onNext(Item item) {
        received.add(item);
        bytes += item.getPayload().size();
      }

      @Override
      public void onError(Throwable t) {
        // The client gave up; an incomplete upload must not change the store.
      }

      @Override
      public void onCompleted() {
        UploadSummary.Builder summary =
            UploadSummary.newBuilder().setCount(received.size()).setBytes(bytes);
        for (Item item : received) {
          items.put(item.getId(), item);
          summary.addIds(item.getId());
        }
        responseObserver.onNext(summary.build());
        responseObserver.onCompleted();
      }
    };
  }

  /** Echoes every received item back at once and completes when the client half-closes. */
  @Override
  public StreamObserver<Item> syncItems(StreamObserver<Item> responseObserver) {
    return new StreamObserver<>() {
      @Override
      public void onNext(Item item) {
        responseObserver.onNext(item);
      }

      @Override
      public void onError(Throwable t) {
        // The client gave up; there is nobody left to answer.
      }

      @Override
      public void onCompleted() {
        responseObserver.onCompleted();
      }
    };
  }

  /** Benchmarks may call the service directly, with an observer that is not a gRPC call's. */
  private static boolean isCancelled(StreamObserver<?> observer) {
    return observer instanceof ServerCallStreamObserver
        && ((ServerCallStreamObserver<?>) observer).isCancelled();
  }

  private static Item syntheticItem(String id) {
    return Item.newBuilder().setId(id).setValue("value-" + id).build();
  }
}
