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
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** One budget per authority, shared across channels and interceptors, dropped when unused. */
class RetryBudgetRegistryTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  @RegisterExtension final GrpcServerExtension other = GrpcServerExtension.create();

  @Test
  void theSameAuthorityGetsTheSameBudget() {
    RetryBudgetRegistry registry = RetryBudgetRegistry.newBuilder().build();
    RetryBudget a = registry.budgetFor("payments:443");
    assertThat(registry.budgetFor("payments:443")).isSameAs(a);
    assertThat(registry.budgetFor("ledger:443")).isNotSameAs(a);
    assertThat(a).isInstanceOf(TokenBucketBudget.class);
    assertThat(registry.estimatedSize()).isEqualTo(2);
  }

  @Test
  void unusedBudgetsExpireAndUsedOnesStay() {
    ManualClock clock = ManualClock.create();
    RetryBudgetRegistry registry =
        RetryBudgetRegistry.newBuilder()
            .ticker(clock.ticker())
            .expireAfterAccess(Duration.ofMinutes(10))
            .build();
    RetryBudget busy = registry.budgetFor("busy");
    RetryBudget idle = registry.budgetFor("idle");
    for (int minute = 0; minute < 15; minute++) {
      clock.advance(Duration.ofMinutes(1));
      registry.budgetFor("busy");
    }
    registry.cleanUp();
    assertThat(registry.estimatedSize()).isEqualTo(1);
    assertThat(registry.budgetFor("busy")).isSameAs(busy);
    assertThat(registry.budgetFor("idle")).isNotSameAs(idle);
  }

  @Test
  void aThousandTargetsUsedOnceLeaveNothingBehind() {
    ManualClock clock = ManualClock.create();
    RetryBudgetRegistry registry =
        RetryBudgetRegistry.newBuilder().ticker(clock.ticker()).build();
    for (int i = 0; i < 1_000; i++) {
      registry.budgetFor("target-" + i);
    }
    assertThat(registry.estimatedSize()).isEqualTo(1_000);
    clock.advance(Duration.ofMinutes(11));
    registry.cleanUp();
    assertThat(registry.estimatedSize()).isZero();
  }

  @Test
  void theFactoryDecidesAndMustNotReturnNull() {
    RetryBudget fixed = RetryBudget.grpcRetryThrottling(10, 0.1);
    assertThat(RetryBudgetRegistry.newBuilder().budgetFactory(a -> fixed).build().budgetFor("x"))
        .isSameAs(fixed);
    RetryBudgetRegistry broken = RetryBudgetRegistry.newBuilder().budgetFactory(a -> null).build();
    assertThatThrownBy(() -> broken.budgetFor("x"))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("budgetFactory returned null for x");
    assertThatThrownBy(() -> RetryBudgetRegistry.newBuilder().expireAfterAccess(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("expireAfterAccess must be > 0: PT0S");
  }

  @Test
  void interceptorsOnChannelsToOneTargetSpendOneBudget() {
    FaultInjector faults = FaultInjector.create();
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE));
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    other.addService(new DemoItemService());
    RetryBudgetRegistry registry =
        RetryBudgetRegistry.newBuilder()
            .budgetFactory(a -> TokenBucketBudget.newBuilder().maxTokens(3).build())
            .build();
    ManualClock clock = ManualClock.create();
    // Two interceptors, two channels, one target: pushback 0 would retry at once, so the only
    // limit on retries is the shared budget of 3 tokens.
    faults.script(GET).otherwise(Fault.fail(Status.UNAVAILABLE).withPushback(0));
    ManagedChannel first = grpc.channel();
    ManagedChannel second = grpc.newChannel(b -> {});
    RetryPolicy policy = policy(10).build();
    for (ManagedChannel channel : new ManagedChannel[] {first, second, first}) {
      assertThatThrownBy(
              () ->
                  ItemServiceGrpc.newBlockingStub(
                          ClientInterceptors.intercept(
                              channel,
                              retryOn(clock).defaultPolicy(policy).retryBudgetRegistry(registry).build()))
                      .getItem(get("a")))
          .isInstanceOf(StatusRuntimeException.class);
    }
    // 3 first attempts + 3 retries in all: the budget was shared.
    assertThat(faults.attemptCount(GET)).isEqualTo(6);
    assertThat(registry.budgetFor(first.authority()).stats().granted()).isEqualTo(3);
    // Another target (in-process channels all say "localhost" unless told otherwise) has its own,
    // untouched budget.
    ManagedChannel ledger = other.newChannel(b -> b.overrideAuthority("ledger.example"));
    ItemServiceGrpc.newBlockingStub(
            ClientInterceptors.intercept(
                ledger, retryOn(clock).defaultPolicy(policy).retryBudgetRegistry(registry).build()))
        .getItem(get("b"));
    assertThat(registry.budgetFor("ledger.example")).isNotSameAs(registry.budgetFor(first.authority()));
    assertThat(registry.budgetFor("ledger.example").stats().granted()).isZero();
  }
}
