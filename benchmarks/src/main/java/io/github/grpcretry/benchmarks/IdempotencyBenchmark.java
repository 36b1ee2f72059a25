package io.github.grpcretry.benchmarks;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.idempotency.IdempotencyInterceptor;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
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
 * What the server half of idempotency keys costs per unary call, on an in-process server with
 * direct executors (the whole call runs on the benchmark thread).
 *
 * <p>{@code setup}:
 *
 * <ul>
 *   <li>{@code bare}: no server interceptor, no key: the baseline;
 *   <li>{@code unkeyed}: {@link IdempotencyInterceptor} installed, requests without a key: what
 *       every other request pays;
 *   <li>{@code miss}: a new key every call: hash the request, claim, execute, record and store the
 *       outcome in the default Caffeine store (which fills up and evicts, as in a long run);
 *   <li>{@code hit}: the same key and request every call: hash, find the stored outcome, replay it
 *       without executing.
 * </ul>
 *
 * <p>The method is {@code GetItem}, enabled for keys here because it keeps no state, so that the
 * service's own cost stays the same in every set-up. JMH creates one instance per trial and calls
 * it from one thread.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(2)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
public class IdempotencyBenchmark {
  private static final Metadata.Key<String> KEY =
      Metadata.Key.of(IdempotencyInterceptor.DEFAULT_HEADER_NAME, Metadata.ASCII_STRING_MARSHALLER);
  private static final GetItemRequest REQUEST = GetItemRequest.newBuilder().setId("a").build();

  @Param({"bare", "unkeyed", "miss", "hit"})
  public String setup;

  private Server server;
  private ManagedChannel channel;
  private ItemServiceGrpc.ItemServiceBlockingStub stub;
  private long counter;

  @Setup(Level.Trial)
  public void start() throws IOException {
    String name = InProcessServerBuilder.generateName();
    InProcessServerBuilder builder = InProcessServerBuilder.forName(name).directExecutor();
    if (setup.equals("bare")) {
      builder.addService(new DemoItemService());
    } else {
      builder.addService(
          ServerInterceptors.intercept(
              new DemoItemService(),
              IdempotencyInterceptor.newBuilder()
                  .method(ItemServiceGrpc.getGetItemMethod())
                  .singleTrustedCaller()
                  .build()));
    }
    server = builder.build().start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    Channel keyed;
    switch (setup) {
      case "bare":
      case "unkeyed":
        keyed = channel;
        break;
      case "miss":
        keyed = ClientInterceptors.intercept(channel, header(() -> Long.toHexString(++counter)));
        break;
      case "hit":
        keyed = ClientInterceptors.intercept(channel, header(() -> "0123456789abcdef"));
        break;
      default:
        throw new IllegalArgumentException(
            "setup must be bare, unkeyed, miss or hit: " + setup);
    }
    stub = ItemServiceGrpc.newBlockingStub(keyed);
  }

  @TearDown(Level.Trial)
  public void stop() throws InterruptedException {
    channel.shutdownNow();
    server.shutdownNow();
    if (!channel.awaitTermination(5, TimeUnit.SECONDS)
        || !server.awaitTermination(5, TimeUnit.SECONDS)) {
      throw new IllegalStateException("a call was left open: the figures are not to be trusted");
    }
  }

  @Benchmark
  public Item getItem() {
    return stub.getItem(REQUEST);
  }

  private interface KeySource {
    String next();
  }

  private static ClientInterceptor header(KeySource keys) {
    return new ClientInterceptor() {
      @Override
      public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
          MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
          @Override
          public void start(Listener<RespT> listener, Metadata headers) {
            headers.put(KEY, keys.next());
            super.start(listener, headers);
          }
        };
      }
    };
  }
}
