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
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The budget's evidence: the same three phases against a real in-process server for no budget,
 * gRFC A6 throttling and the default budget, each with maxAttempts 5 and UNAVAILABLE retryable.
 *
 * <ol>
 *   <li>20,000 calls while 20% of attempts fail with UNAVAILABLE, independently (seeded);
 *   <li>a full outage: 10,000 calls while every attempt fails;
 *   <li>the outage ends (20% independent failures again): how many calls until a retry is
 *       granted again.
 * </ol>
 *
 * <p>Time is a manual clock and both executors are direct, so the figures are the same on every
 * run and machine. The table is printed to the test's output.
 */
class RetryBudgetStormTest {
  private static final int TRANSIENT_CALLS = 20_000;
  private static final int OUTAGE_CALLS = 10_000;
  private static final int RECOVERY_LIMIT = 1_000;

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();

  /** What the server does with each attempt: fails it or lets it through. */
  private final AtomicReference<Fault> behaviour = new AtomicReference<>();
  private final AtomicLong serverAttempts = new AtomicLong();

  private static final class Figures {
    final String name;
    double transientSuccess;
    double transientAttemptsPerCall;
    double outageAttemptsPerCall;
    int recoveryCalls = -1;

    Figures(String name) {
      this.name = name;
    }
  }

  @Test
  void theDefaultBudgetRetriesTransientFailuresAndStopsTheStorm() throws Exception {
    ServerInterceptor counting =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
            serverAttempts.incrementAndGet();
            return next.startCall(call, headers);
          }
        };
    grpc.addService(new DemoItemService()).addServerInterceptor(counting).addServerInterceptor(
        new SwitchableFaults(behaviour));

    Figures none = measure("no budget", RetryBudget::unlimited);
    Figures a6 = measure("A6 throttling (10, 0.1)", () -> RetryBudget.grpcRetryThrottling(10, 0.1));
    Figures ours = measure("TokenBucketBudget (default)", TokenBucketBudget::create);

    System.out.println(table(none, a6, ours));

    assertThat(ours.transientSuccess).isGreaterThanOrEqualTo(0.999);
    assertThat(ours.transientAttemptsPerCall).isLessThanOrEqualTo(1.30);
    assertThat(ours.outageAttemptsPerCall).isLessThanOrEqualTo(1.05);
    assertThat(ours.recoveryCalls).isBetween(1, 100);
    // The comparison the budget exists for: with the same traffic, no budget storms during the
    // outage and A6 throttling gives up on transient failures it could have rescued.
    assertThat(none.outageAttemptsPerCall).isGreaterThan(4.9);
    assertThat(a6.transientSuccess).isLessThan(0.95);
  }

  private Figures measure(String name, Supplier<RetryBudget> budgetFactory) throws Exception {
    Figures figures = new Figures(name);
    ManualClock clock = ManualClock.create();
    RetryBudget budget = budgetFactory.get();
    RetryPolicy policy =
        RetryPolicy.newBuilder()
            .maxAttempts(5)
            .initialBackoff(Duration.ofMillis(10))
            .maxBackoff(Duration.ofMillis(100))
            .retryableStatusCodes(Status.Code.UNAVAILABLE)
            .build();
    Channel channel =
        ClientInterceptors.intercept(
            grpc.newChannel(b -> b.directExecutor()),
            retryOn(clock).defaultPolicy(policy).retryBudget(budget).build());
    ItemServiceGrpc.ItemServiceFutureStub stub = ItemServiceGrpc.newFutureStub(channel);

    behaviour.set(Fault.randomly(0.2, 20261129, Fault.fail(Status.UNAVAILABLE)));
    long before = serverAttempts.get();
    int ok = 0;
    for (int i = 0; i < TRANSIENT_CALLS; i++) {
      ok += call(stub, clock) ? 1 : 0;
    }
    figures.transientSuccess = ok / (double) TRANSIENT_CALLS;
    figures.transientAttemptsPerCall = (serverAttempts.get() - before) / (double) TRANSIENT_CALLS;

    behaviour.set(Fault.fail(Status.UNAVAILABLE));
    before = serverAttempts.get();
    for (int i = 0; i < OUTAGE_CALLS; i++) {
      call(stub, clock);
    }
    figures.outageAttemptsPerCall = (serverAttempts.get() - before) / (double) OUTAGE_CALLS;

    behaviour.set(Fault.randomly(0.2, 7, Fault.fail(Status.UNAVAILABLE)));
    long granted = budget.stats().granted();
    for (int i = 1; i <= RECOVERY_LIMIT; i++) {
      call(stub, clock);
      if (budget == RetryBudget.unlimited() || budget.stats().granted() > granted) {
        figures.recoveryCalls = i;
        break;
      }
    }
    return figures;
  }

  /** One call, moving the manual clock through its backoffs; returns whether it succeeded. */
  private static boolean call(ItemServiceGrpc.ItemServiceFutureStub stub, ManualClock clock)
      throws Exception {
    ListenableFuture<Item> future = stub.getItem(get("s"));
    while (!future.isDone()) {
      assertThat(clock.awaitPendingTasks(1, Duration.ofSeconds(10))).isTrue();
      clock.advanceToNextTask();
    }
    try {
      future.get(10, TimeUnit.SECONDS);
      return true;
    } catch (ExecutionException e) {
      return false;
    }
  }

  private static String table(Figures... rows) {
    StringBuilder out = new StringBuilder();
    out.append(
        String.format(
            Locale.ROOT,
            "%n| budget | success at 20%% independent UNAVAILABLE | attempts per call at 20%% |"
                + " attempts per call during a full outage | calls after the outage until a retry"
                + " is granted |%n|---|---|---|---|---|%n"));
    for (Figures f : rows) {
      out.append(
          String.format(
              Locale.ROOT,
              "| %s | %.2f%% | %.3f | %.3f | %s |%n",
              f.name,
              f.transientSuccess * 100,
              f.transientAttemptsPerCall,
              f.outageAttemptsPerCall,
              f.recoveryCalls < 0 ? "none within " + RECOVERY_LIMIT : Integer.toString(f.recoveryCalls)));
    }
    return out.toString();
  }

  /** A fault injector whose behaviour the test switches between phases. */
  private static final class SwitchableFaults implements ServerInterceptor {
    private final AtomicReference<Fault> behaviour;
    private io.github.grpcretry.testing.@org.jspecify.annotations.Nullable FaultInjector current;
    private @org.jspecify.annotations.Nullable Fault currentFault;

    SwitchableFaults(AtomicReference<Fault> behaviour) {
      this.behaviour = behaviour;
    }

    @Override
    public synchronized <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
        ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
      Fault fault = behaviour.get();
      if (fault != currentFault || current == null) {
        current = io.github.grpcretry.testing.FaultInjector.create();
        current.script(GET).otherwise(fault);
        currentFault = fault;
      }
      return current.interceptCall(call, headers, next);
    }
  }
}
