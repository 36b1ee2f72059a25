package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.get;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.ClientInterceptors;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link RetryInterceptor#retryBudget}: the budget a target's calls spend, without making one. */
class RetryBudgetLookupTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private static final RetryPolicy POLICY = RetryPolicy.newBuilder().maxAttempts(2).build();

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService());
  }

  private void callThrough(RetryInterceptor retry) {
    ItemServiceGrpc.newBlockingStub(ClientInterceptors.intercept(grpc.channel(), retry))
        .getItem(get("a"));
  }

  @Test
  void theInterceptorsOwnBudgetOfATargetIsThereOnceItWasCalled() {
    RetryInterceptor retry =
        RetryInterceptor.newBuilder()
            .defaultPolicy(POLICY)
            .addListener(new RetryListener() {})
            .build();
    assertThat(retry.retryBudget("localhost")).as("not called yet").isNull();
    callThrough(retry);
    RetryBudget budget = retry.retryBudget("localhost");
    assertThat(budget).as("the bucket itself, not a wrapper").isInstanceOf(TokenBucketBudget.class);
    assertThat(budget.stats().availableTokens()).isEqualTo(budget.stats().maxTokens());
    assertThat(retry.retryBudget("elsewhere")).isNull();
  }

  @Test
  void aGivenBudgetIsTheBudgetOfEveryTarget() {
    TokenBucketBudget given = TokenBucketBudget.create();
    RetryInterceptor retry =
        RetryInterceptor.newBuilder()
            .defaultPolicy(POLICY)
            .retryBudget(given)
            .addListener(new RetryListener() {})
            .build();
    assertThat(retry.retryBudget("localhost")).isSameAs(given);
    assertThat(retry.retryBudget("elsewhere")).isSameAs(given);
  }

  @Test
  void aRegistrysBudgetIsLookedUpWithoutKeepingItAlive() {
    ManualClock clock = ManualClock.create();
    RetryBudgetRegistry registry =
        RetryBudgetRegistry.newBuilder()
            .ticker(clock.ticker())
            .expireAfterAccess(Duration.ofMinutes(1))
            .build();
    RetryInterceptor retry =
        RetryInterceptor.newBuilder().defaultPolicy(POLICY).retryBudgetRegistry(registry).build();
    assertThat(retry.retryBudget("localhost")).as("not called yet").isNull();
    assertThat(registry.estimatedSize()).as("the look-up made none").isZero();
    callThrough(retry);
    assertThat(retry.retryBudget("localhost")).isSameAs(registry.budgetFor("localhost"));

    for (int i = 0; i < 3; i++) {
      clock.advance(Duration.ofSeconds(30));
      retry.retryBudget("localhost");
    }
    registry.cleanUp();
    assertThat(retry.retryBudget("localhost")).as("expired though looked at").isNull();
  }

  @Test
  void aNullTargetIsRefusedByName() {
    RetryInterceptor retry = RetryInterceptor.newBuilder().defaultPolicy(POLICY).build();
    assertThatThrownBy(() -> retry.retryBudget(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("target");
  }
}
