package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.AttemptRecord;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A non-idempotent CreateItem, called through {@link RetryInterceptor} with retries and
 * per-attempt timeouts while 20% of attempts fail and some executions are slow: with the server
 * half in place, every logical call has exactly one side effect and gets its own outcome.
 *
 * <p>Where each fault sits: {@code before} fails 10% of attempts before they reach the server half
 * (nothing executes; the retry executes). {@code lost} sits between the two and fails another
 * ~10% after the handler ran (the outcome is kept; the client sees UNAVAILABLE and its retry is
 * answered with the kept outcome). One call in 100 is slow in the handler itself, longer than the
 * per-attempt timeout: the client abandons the attempt and retries while the first execution still
 * runs, so the retry waits for it (and may time out waiting, and retry again, until the first
 * execution's outcome is kept). The figures leave room for a loaded 2-core machine: the test
 * asserts counts, never durations. Without the server half, each lost response and each slow call
 * would create a second order.
 */
class ExactlyOnceUnderFaultsTest {
  private static final Duration PER_ATTEMPT = Duration.ofMillis(150);

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final CountingItemService service = new CountingItemService(timer);
  private final Fault failBefore = Fault.fail(Status.UNAVAILABLE.withDescription("before"));
  private final Fault loseResponse =
      Fault.failAfterMessages(0, Status.UNAVAILABLE.withDescription("response lost"));
  private final FaultInjector before = FaultInjector.create();
  private final FaultInjector lost = FaultInjector.create();

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();

  ExactlyOnceUnderFaultsTest() {
    before.script(ItemServiceGrpc.getCreateItemMethod()).otherwise(Fault.randomly(0.1, 1, failBefore));
    // 0.1 + 0.9 * 0.1112 = 0.2 of all attempts fail.
    lost.script(ItemServiceGrpc.getCreateItemMethod()).otherwise(Fault.randomly(0.1112, 2, loseResponse));
    service.slowMillis = 3 * PER_ATTEMPT.toMillis();
  }

  @AfterEach
  void stopTimer() throws InterruptedException {
    timer.shutdownNow();
    assertThat(timer.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  private IdempotencyInterceptor dedup() {
    return IdempotencyInterceptor.newBuilder()
        .method(ItemServiceGrpc.getCreateItemMethod())
        .singleTrustedCaller()
        .build();
  }

  @Test
  void tenThousandCallsInProcessHaveExactlyOneSideEffectEach() throws Exception {
    // First added is outermost: before → lost → the server half → the service.
    grpc.addService(service)
        .addServerInterceptor(before)
        .addServerInterceptor(lost)
        .addServerInterceptor(dedup());
    ManagedChannel channel = grpc.newChannel(b -> b.directExecutor());

    runAndCheck(ExactlyOnceCheck.retryingKeyedClient(channel, PER_ATTEMPT), 10_000, 32);
  }

  @Test
  void aThousandCallsOverNettyLoopbackHaveExactlyOneSideEffectEach() throws Exception {
    Server server =
        grpc.register(
            NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .directExecutor()
                // The last interceptor listed is the outermost.
                .addService(ServerInterceptors.intercept(service, dedup(), lost, before))
                .build()
                .start());
    ManagedChannel channel =
        grpc.register(
            NettyChannelBuilder.forAddress("127.0.0.1", server.getPort())
                .usePlaintext()
                .directExecutor()
                .build());

    // Fewer calls at once than in process: on a shared 2-core machine a loopback call costs more,
    // and calls that wait on each other past the per-attempt timeout turn into a retry storm.
    runAndCheck(ExactlyOnceCheck.retryingKeyedClient(channel, PER_ATTEMPT), 1_000, 8);
  }

  @Test
  void aThousandHedgedCallsInProcessHaveExactlyOneSideEffectEach() throws Exception {
    // Hedges 5 ms apart: every slow execution (one call in 100) meets up to four duplicates that
    // arrive while it runs and must wait for it. 5% of executions lose their response after the
    // handler ran: the next hedge is answered with the kept outcome. (Five lost responses in one
    // call, the only way a call could fail here, has a chance of 3e-7.)
    Fault lose = Fault.failAfterMessages(0, Status.UNAVAILABLE.withDescription("response lost"));
    FaultInjector sometimesLost = FaultInjector.create();
    sometimesLost
        .script(ItemServiceGrpc.getCreateItemMethod())
        .otherwise(Fault.randomly(0.05, 3, lose));
    grpc.addService(service).addServerInterceptor(sometimesLost).addServerInterceptor(dedup());
    ManagedChannel channel = grpc.newChannel(b -> b.directExecutor());

    ExactlyOnceCheck.run(
        ExactlyOnceCheck.hedgingKeyedClient(channel, Duration.ofMillis(5)), service, 1_000, 16);

    List<AttemptRecord> reached = sometimesLost.attempts(ItemServiceGrpc.getCreateItemMethod());
    long lostResponses = reached.stream().filter(a -> a.fault() == lose).count();
    assertThat(lostResponses).isGreaterThan(10);
    // Each of the ten slow calls was hedged at least once while its first execution ran.
    assertThat(reached.size()).as("attempts, hedges included").isGreaterThan(1_000 + 10);
  }

  private void runAndCheck(Channel channel, int calls, int concurrency)
      throws InterruptedException {
    ExactlyOnceCheck.run(channel, service, calls, concurrency);

    // The faults really happened, and the retries really met executions that had taken effect.
    List<AttemptRecord> attempts = before.attempts(ItemServiceGrpc.getCreateItemMethod());
    long failedBefore = attempts.stream().filter(a -> a.fault() == failBefore).count();
    List<AttemptRecord> reached = lost.attempts(ItemServiceGrpc.getCreateItemMethod());
    long lostResponses = reached.stream().filter(a -> a.fault() == loseResponse).count();
    long abandoned =
        reached.stream()
            .filter(a -> a.outcome() != null && a.outcome().getCode() == Status.Code.CANCELLED)
            .count();
    assertThat(failedBefore).isGreaterThan(calls / 20);
    assertThat(lostResponses).isGreaterThan(calls / 20);
    assertThat(abandoned).as("attempts abandoned at their per-attempt timeout").isGreaterThan(0);
    assertThat(reached.size()).isGreaterThan(calls + (int) lostResponses);
  }
}
