package io.github.grpcretry.benchmarks;

import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.UploadSummary;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
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
 * stream of {@value ItemCalls#MESSAGES} items drained to the end, and a client stream of {@value
 * ItemCalls#MESSAGES} items, whose replay log the interceptor keeps until the response arrives.
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
  @Param({"bare", "builtin", "interceptor", "interceptor-100-methods"})
  public String setup;

  private ItemServiceConnection service;
  private ItemServiceGrpc.ItemServiceBlockingStub blockingStub;
  private ItemServiceGrpc.ItemServiceStub asyncStub;
  private Consumer<Item> sink;

  @Setup(Level.Trial)
  public void start(Blackhole blackhole) {
    service = ItemServiceConnection.start(ChannelSetup.named(setup));
    blockingStub = ItemServiceGrpc.newBlockingStub(service.channel());
    asyncStub = ItemServiceGrpc.newStub(service.channel());
    // Made once, so that no operation allocates a method reference of its own.
    sink = blackhole::consume;
  }

  @TearDown(Level.Trial)
  public void stop() throws InterruptedException {
    service.stop();
  }

  @Benchmark
  public int listItems() {
    return ItemCalls.listItems(blockingStub, sink);
  }

  @Benchmark
  public UploadSummary uploadItems() {
    return ItemCalls.uploadItems(asyncStub);
  }
}
