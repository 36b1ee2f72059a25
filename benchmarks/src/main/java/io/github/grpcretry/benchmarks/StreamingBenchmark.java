package io.github.grpcretry.benchmarks;

import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.grpc.stub.StreamObserver;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Throughput of streaming calls that succeed at once, through each {@link ChannelSetup}: a server
 * stream of {@value #MESSAGES} items drained to the end, and a client stream of {@value #MESSAGES}
 * items, whose replay log the interceptor keeps until the response arrives.
 *
 * <p>One whole call per operation; with direct executors on both sides it runs on the benchmark
 * thread.
 *
 * <p>JMH creates one instance per trial and calls it from one thread.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(2)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
public class StreamingBenchmark {
  static final int MESSAGES = 10;

  private static final ListItemsRequest LIST_REQUEST =
      ListItemsRequest.newBuilder().setPrefix("item").setLimit(MESSAGES).build();
  private static final Item[] UPLOAD = itemsToUpload();

  @Param({"bare", "builtin", "interceptor", "interceptor-100-methods"})
  public String setup;

  private InProcessItemService service;
  private ItemServiceGrpc.ItemServiceBlockingStub blockingStub;
  private ItemServiceGrpc.ItemServiceStub asyncStub;

  @Setup(Level.Trial)
  public void start() {
    service = InProcessItemService.start(ChannelSetup.named(setup));
    blockingStub = ItemServiceGrpc.newBlockingStub(service.channel());
    asyncStub = ItemServiceGrpc.newStub(service.channel());
  }

  @TearDown(Level.Trial)
  public void stop() throws InterruptedException {
    service.stop();
  }

  @Benchmark
  public int listItems(Blackhole blackhole) {
    int count = 0;
    for (Iterator<Item> items = blockingStub.listItems(LIST_REQUEST); items.hasNext(); count++) {
      blackhole.consume(items.next());
    }
    if (count != MESSAGES) {
      throw new IllegalStateException("listItems returned " + count + " items, not " + MESSAGES);
    }
    return count;
  }

  @Benchmark
  public UploadSummary uploadItems() {
    SummaryObserver summary = new SummaryObserver();
    StreamObserver<Item> requests = asyncStub.uploadItems(summary);
    for (Item item : UPLOAD) {
      requests.onNext(item);
    }
    requests.onCompleted();
    // With direct executors the call has ended by now and join() returns at once; it is there so
    // that a set-up that hands work to another thread is measured to the call's end, not cut short.
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
