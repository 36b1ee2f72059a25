package io.github.grpcretry.benchmarks;

import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
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

/**
 * Throughput of unary {@code GetItem} calls that succeed at once, through each {@link
 * ChannelSetup}: the price of being ready to retry when no retry is needed.
 *
 * <p>One blocking call per operation. With direct executors on both sides the whole call, server
 * included, runs on the benchmark thread, so the measured work is the client's and the in-process
 * transport's, with no thread hand-off to blur it.
 *
 * <p>JMH creates one instance per trial and calls it from one thread.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(2)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
public class UnaryBenchmark {
  @Param({"bare", "builtin", "interceptor", "interceptor-100-methods"})
  public String setup;

  private ItemServiceConnection service;
  private ItemServiceGrpc.ItemServiceBlockingStub stub;

  @Setup(Level.Trial)
  public void start() {
    service = ItemServiceConnection.start(ChannelSetup.named(setup));
    stub = ItemServiceGrpc.newBlockingStub(service.channel());
  }

  @TearDown(Level.Trial)
  public void stop() throws InterruptedException {
    service.stop();
  }

  @Benchmark
  public Item getItem() {
    return ItemCalls.getItem(stub);
  }
}
