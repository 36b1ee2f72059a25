package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.get;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Which calls spend one budget: by default those of one interceptor to one target, whatever
 * channels carry them; across interceptors only when they are given one budget or registry. Every
 * in-process channel of the kit has the authority "localhost", so interceptors that shared budgets
 * implicitly would leak a drained budget from one test into the next.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BudgetScopeTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final FaultInjector faults = FaultInjector.create();

  /** Two attempts with a backoff of a microsecond: a drained budget shows as one attempt. */
  private static final RetryPolicy POLICY =
      RetryPolicy.newBuilder()
          .maxAttempts(2)
          .initialBackoff(Duration.ofNanos(1_000))
          .maxBackoff(Duration.ofNanos(1_000))
          .build();

  @BeforeEach
  void setUp() {
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
  }

  /** Makes failing calls until the budget refuses a retry; returns the status that said so. */
  private Status drain(Channel channel) {
    for (int i = 0; i < 1_000; i++) {
      faults.reset();
      faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
      Status status = call(channel);
      if (faults.attemptCount(GET) == 1) {
        return status;
      }
    }
    throw new AssertionError("the budget never refused a retry");
  }

  private static Status call(Channel channel) {
    StatusRuntimeException e =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () -> ItemServiceGrpc.newBlockingStub(channel).getItem(get("a")));
    assertThat(e).as("the call fails").isNotNull();
    return e.getStatus();
  }

  /** Whether the next failing call through {@code channel} is retried. */
  private boolean retried(Channel channel) {
    faults.reset();
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE.withDescription("down")));
    call(channel);
    return faults.attemptCount(GET) == 2;
  }

  @Test
  @Order(1)
  void aDrainedBudgetSaysWhichBudgetAndWhatIsLeft() {
    RetryInterceptor retry = RetryInterceptor.newBuilder().defaultPolicy(POLICY).build();
    Status refused = drain(ClientInterceptors.intercept(grpc.channel(), retry));
    assertThat(refused.getDescription())
        .startsWith(
            "down [grpc-retry: 1 attempt; not retried because the retry budget refused another"
                + " attempt (this interceptor's budget for \"localhost\", BudgetStats{tokens=0.")
        .contains("/100.000, granted=100, refused=1}");
  }

  @Test
  @Order(2)
  void aFreshInterceptorIsIsolatedWhateverRanBefore() {
    // The test before drained a budget for "localhost" in this JVM; this one must not notice.
    RetryInterceptor retry = RetryInterceptor.newBuilder().defaultPolicy(POLICY).build();
    assertThat(retried(ClientInterceptors.intercept(grpc.channel(), retry))).isTrue();
  }

  @Test
  void twoInterceptorsNeverShareUnlessTold() {
    RetryInterceptor first = RetryInterceptor.newBuilder().defaultPolicy(POLICY).build();
    RetryInterceptor second = RetryInterceptor.newBuilder().defaultPolicy(POLICY).build();
    drain(ClientInterceptors.intercept(grpc.channel(), first));
    assertThat(retried(ClientInterceptors.intercept(grpc.newChannel(b -> {}), second))).isTrue();
  }

  @Test
  void oneInterceptorOnTwoChannelsToOneTargetSpendsOneBudget() {
    RetryInterceptor retry = RetryInterceptor.newBuilder().defaultPolicy(POLICY).build();
    drain(ClientInterceptors.intercept(grpc.channel(), retry));
    assertThat(retried(ClientInterceptors.intercept(grpc.newChannel(b -> {}), retry))).isFalse();
    // Another target has a budget of its own.
    Channel other = grpc.newChannel(b -> b.overrideAuthority("other.example"));
    assertThat(retried(ClientInterceptors.intercept(other, retry))).isTrue();
  }

  @Test
  void interceptorsGivenOneRegistryShareItsBudgetPerTarget() {
    RetryBudgetRegistry registry = RetryBudgetRegistry.newBuilder().build();
    RetryInterceptor first =
        RetryInterceptor.newBuilder().defaultPolicy(POLICY).retryBudgetRegistry(registry).build();
    RetryInterceptor second =
        RetryInterceptor.newBuilder().defaultPolicy(POLICY).retryBudgetRegistry(registry).build();
    Status refused = drain(ClientInterceptors.intercept(grpc.channel(), first));
    assertThat(refused.getDescription())
        .contains("(the budget of \"localhost\" in the RetryBudgetRegistry, BudgetStats{");
    assertThat(retried(ClientInterceptors.intercept(grpc.newChannel(b -> {}), second))).isFalse();
  }

  @Test
  void interceptorsGivenOneBudgetShareItForEveryTarget() {
    TokenBucketBudget budget = TokenBucketBudget.create();
    RetryInterceptor first =
        RetryInterceptor.newBuilder().defaultPolicy(POLICY).retryBudget(budget).build();
    RetryInterceptor second =
        RetryInterceptor.newBuilder().defaultPolicy(POLICY).retryBudget(budget).build();
    drain(ClientInterceptors.intercept(grpc.channel(), first));
    Channel other = grpc.newChannel(b -> b.overrideAuthority("other.example"));
    assertThat(retried(ClientInterceptors.intercept(other, second))).isFalse();
    assertThat(budget.availableTokens()).isLessThan(1);
  }
}
