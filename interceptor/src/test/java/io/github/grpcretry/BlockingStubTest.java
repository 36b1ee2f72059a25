package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.policy;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.Context;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Blocking stubs wait on their own executor: retries and closes the interceptor makes by itself
 * must be handed to that executor, or the caller never wakes up.
 */
class BlockingStubTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);
  /** The thread on which each attempt was created. */
  private final List<String> attemptThreads = new CopyOnWriteArrayList<>();
  private Channel channel;

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    ClientInterceptor perAttempt =
        new ClientInterceptor() {
          @Override
          public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
              MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
            attemptThreads.add(Thread.currentThread().getName());
            return next.newCall(method, options);
          }
        };
    channel =
        ClientInterceptors.intercept(
            ClientInterceptors.intercept(grpc.channel(), perAttempt),
            retryOn(clock).defaultPolicy(policy(3).build()).build());
  }

  /** Moves the clock from another thread whenever a timer is pending, until stopped. */
  private Thread timeMover(int timers) {
    Thread mover =
        new Thread(
            () -> {
              try {
                for (int i = 0; i < timers; i++) {
                  if (!clock.awaitPendingTasks(1, Duration.ofSeconds(10))) {
                    return;
                  }
                  clock.advanceToNextTask();
                }
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "time-mover");
    mover.start();
    return mover;
  }

  @Test
  void retriesRunOnTheBlockedCallersThread() throws Exception {
    faults.script(GET).then(Fault.fail(Status.UNAVAILABLE), 2);
    Thread mover = timeMover(2);
    String caller = Thread.currentThread().getName();

    assertThat(ItemServiceGrpc.newBlockingStub(channel).getItem(get("b")).getId()).isEqualTo("b");

    mover.join(10_000);
    assertThat(attemptThreads).containsExactly(caller, caller, caller);
  }

  @Test
  void aCancelDuringBackoffWakesTheBlockedCaller() throws Exception {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    Context.CancellableContext context = Context.current().withCancellation();
    Thread canceller =
        new Thread(
            () -> {
              try {
                if (clock.awaitPendingTasks(1, Duration.ofSeconds(10))) {
                  context.cancel(new IllegalStateException("caller gave up"));
                }
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    canceller.start();
    assertThatThrownBy(
            () -> context.call(() -> ItemServiceGrpc.newBlockingStub(channel).getItem(get("b"))))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.CANCELLED));
    canceller.join(10_000);
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
  }
}
