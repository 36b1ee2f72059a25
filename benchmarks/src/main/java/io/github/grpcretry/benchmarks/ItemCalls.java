package io.github.grpcretry.benchmarks;

import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.grpc.stub.StreamObserver;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The calls that the gRPC benchmarks measure, one whole call each, shared by the JMH benchmarks
 * and {@link PairedBenchmark} so that both measure the same thing.
 *
 * <p>Stateless; the requests are immutable, so any thread may make these calls.
 */
final class ItemCalls {
  /** Items per streaming call, either way. */
  static final int MESSAGES = 10;

  private static final GetItemRequest GET_REQUEST =
      GetItemRequest.newBuilder().setId("item-1").build();
  private static final ListItemsRequest LIST_REQUEST =
      ListItemsRequest.newBuilder().setPrefix("item").setLimit(MESSAGES).build();
  private static final Item[] UPLOAD = itemsToUpload();

  private ItemCalls() {}

  /** One blocking {@code GetItem}. */
  static Item getItem(ItemServiceGrpc.ItemServiceBlockingStub stub) {
    return stub.getItem(GET_REQUEST);
  }

  /**
   * One blocking {@code ListItems} of {@value #MESSAGES} items, drained to the end, each handed to
   * {@code sink}.
   *
   * @throws IllegalStateException if the stream did not have {@value #MESSAGES} items
   */
  static int listItems(ItemServiceGrpc.ItemServiceBlockingStub stub, Consumer<? super Item> sink) {
    int count = 0;
    for (Iterator<Item> items = stub.listItems(LIST_REQUEST); items.hasNext(); count++) {
      sink.accept(items.next());
    }
    if (count != MESSAGES) {
      throw new IllegalStateException("listItems returned " + count + " items, not " + MESSAGES);
    }
    return count;
  }

  /**
   * One {@code UploadItems} of {@value #MESSAGES} items on the async stub, to its summary: the
   * interceptor keeps all of them in its replay log until the response.
   */
  static UploadSummary uploadItems(ItemServiceGrpc.ItemServiceStub stub) {
    SummaryObserver summary = new SummaryObserver();
    StreamObserver<Item> requests = stub.uploadItems(summary);
    for (Item item : UPLOAD) {
      requests.onNext(item);
    }
    requests.onCompleted();
    // With direct executors in-process the call has ended by now and join() returns at once; it is
    // there so that a set-up that hands work to another thread is measured to the call's end.
    return summary.join();
  }

  private static Item[] itemsToUpload() {
    Item[] items = new Item[MESSAGES];
    for (int i = 0; i < MESSAGES; i++) {
      items[i] = Item.newBuilder().setId("item-" + i).setValue("value-item-" + i).build();
    }
    return items;
  }

  /** The response of one upload, as a future. */
  private static final class SummaryObserver extends CompletableFuture<UploadSummary>
      implements StreamObserver<UploadSummary> {
    private UploadSummary summary = UploadSummary.getDefaultInstance();

    @Override
    public void onNext(UploadSummary value) {
      summary = value;
    }

    @Override
    public void onError(Throwable t) {
      completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
      complete(summary);
    }
  }
}
