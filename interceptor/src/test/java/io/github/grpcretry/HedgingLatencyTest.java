package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What hedging buys and costs: 2,000 calls to a server whose attempts take 10 ms, except 5% of
 * them (seeded, independent) that take 100 ms, ten times the median. Time is a manual clock, so
 * latencies are exact and the same on every run; the table is printed to the test's output.
 */
class HedgingLatencyTest {
  private static final int CALLS = 2_000;

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();

  private record Figures(String name, long p50, long p99, long p999, double attemptsPerCall) {}

  /** The injector of the measurement under way; the server delegates to it. */
  private final AtomicReference<FaultInjector> faults = new AtomicReference<>();

  @Test
  void hedgingCutsTheTailForAFewPercentMoreAttempts() throws Exception {
    ServerInterceptor delegating =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
            return faults.get().interceptCall(call, headers, next);
          }
        };
    grpc.addService(new DemoItemService()).addServerInterceptor(delegating);
    Figures plain = measure("no hedging", RetryPolicy.noRetry());
    Figures hedged =
        measure(
            "hedging: maxAttempts 2, hedgingDelay 20 ms",
            HedgingPolicy.newBuilder()
                .maxAttempts(2)
                .hedgingDelay(Duration.ofMillis(20))
                .nonFatalStatusCodes(Status.Code.UNAVAILABLE)
                .build());
    System.out.println(table(plain, hedged));

    assertThat(plain.p99()).isEqualTo(100);
    assertThat(hedged.p99()).isLessThanOrEqualTo(plain.p99() / 2);
    assertThat(hedged.p50()).isEqualTo(plain.p50());
    assertThat(hedged.attemptsPerCall()).isLessThan(1.10);
  }

  private Figures measure(String name, CallPolicy policy) throws Exception {
    ManualClock clock = ManualClock.create();
    FaultInjector injector = FaultInjector.create(clock);
    injector
        .script(GET)
        .otherwise(
            Fault.delay(
                Duration.ofMillis(10),
                Fault.randomly(0.05, 42, Fault.delay(Duration.ofMillis(90)))));
    faults.set(injector);
    RetryInterceptor.Builder builder = retryOn(clock);
    if (policy instanceof HedgingPolicy) {
      builder.methodPolicy(GET, (HedgingPolicy) policy);
    } else {
      builder.methodPolicy(GET, (RetryPolicy) policy);
    }
    ItemServiceGrpc.ItemServiceFutureStub stub =
        ItemServiceGrpc.newFutureStub(
            ClientInterceptors.intercept(
                grpc.newChannel(b -> b.directExecutor()), builder.build()));
    long[] latencies = new long[CALLS];
    for (int i = 0; i < CALLS; i++) {
      long start = clock.nanoTime();
      ListenableFuture<Item> future = stub.getItem(get("l"));
      while (!future.isDone()) {
        assertThat(clock.awaitPendingTasks(1, Duration.ofSeconds(10))).isTrue();
        clock.advanceToNextTask();
      }
      future.get(10, TimeUnit.SECONDS);
      latencies[i] = TimeUnit.NANOSECONDS.toMillis(clock.nanoTime() - start);
    }
    Arrays.sort(latencies);
    return new Figures(
        name,
        latencies[CALLS / 2],
        latencies[(int) Math.ceil(CALLS * 0.99) - 1],
        latencies[(int) Math.ceil(CALLS * 0.999) - 1],
        injector.attemptCount(GET) / (double) CALLS);
  }

  private static String table(Figures... rows) {
    StringBuilder out =
        new StringBuilder(
            String.format(
                Locale.ROOT,
                "%n| set-up | p50 | p99 | p99.9 | attempts per call |%n|---|---|---|---|---|%n"));
    for (Figures f : rows) {
      out.append(
          String.format(
              Locale.ROOT,
              "| %s | %d ms | %d ms | %d ms | %.3f |%n",
              f.name(),
              f.p50(),
              f.p99(),
              f.p999(),
              f.attemptsPerCall()));
    }
    return out.toString();
  }
}
