package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.RetryBudget.AttemptKind;
import io.github.grpcretry.RetryBudget.Outcome;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Many threads on one budget: the tokens never leave their bounds and no update is lost. Each test
 * is built so that the exact final state is known whatever the interleaving.
 */
class BudgetConcurrencyTest {
  private static final int THREADS = 4;
  private final ExecutorService pool = Executors.newFixedThreadPool(THREADS + 1);

  @AfterEach
  void tearDown() throws InterruptedException {
    pool.shutdownNow();
    assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  /** Runs {@code work} on {@link #THREADS} threads released together, while {@code check} samples. */
  private void race(Runnable work, Runnable check) throws Exception {
    CyclicBarrier start = new CyclicBarrier(THREADS);
    AtomicBoolean done = new AtomicBoolean();
    AtomicReference<Throwable> watcherFailure = new AtomicReference<>();
    Future<?> watcher =
        pool.submit(
            () -> {
              try {
                while (!done.get()) {
                  check.run();
                }
              } catch (Throwable t) {
                watcherFailure.set(t);
              }
            });
    List<Future<?>> workers = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      workers.add(
          pool.submit(
              () -> {
                start.await();
                work.run();
                return null;
              }));
    }
    for (Future<?> worker : workers) {
      worker.get(60, TimeUnit.SECONDS);
    }
    done.set(true);
    watcher.get(10, TimeUnit.SECONDS);
    assertThat(watcherFailure.get()).isNull();
  }

  @Test
  void acquireAndRefundPairsLeaveTheBucketFull() throws Exception {
    TokenBucketBudget budget = TokenBucketBudget.newBuilder().maxTokens(10).build();
    int perThread = 50_000;
    race(
        () -> {
          for (int i = 0; i < perThread; i++) {
            if (budget.tryAcquire(AttemptKind.RETRY)) {
              budget.recordOutcome(2, Outcome.SUCCESS);
            }
          }
        },
        () -> assertThat(budget.availableTokens()).isBetween(0.0, 10.0));
    assertThat(budget.availableTokens()).isEqualTo(10.0);
    BudgetStats stats = budget.stats();
    assertThat(stats.granted() + stats.refused()).isEqualTo((long) THREADS * perThread);
  }

  @Test
  void concurrentCreditsAndAcquiresAddUpExactly() throws Exception {
    TokenBucketBudget budget = TokenBucketBudget.newBuilder().maxTokens(1_000).build();
    while (budget.tryAcquire(AttemptKind.RETRY)) {
      // drain to zero
    }
    // 4 x 2,000 credits of 0.1: 800 tokens, below the cap, so none may be lost.
    race(
        () -> {
          for (int i = 0; i < 2_000; i++) {
            budget.recordOutcome(1, Outcome.SUCCESS);
          }
        },
        () -> assertThat(budget.availableTokens()).isBetween(0.0, 1_000.0));
    assertThat(budget.availableTokens()).isEqualTo(800.0);
    long grantedBefore = budget.stats().granted();
    // 4 x 200 acquires of 1: exactly the 800 tokens there are.
    race(
        () -> {
          for (int i = 0; i < 200; i++) {
            assertThat(budget.tryAcquire(AttemptKind.RETRY)).isTrue();
          }
        },
        () -> assertThat(budget.availableTokens()).isBetween(0.0, 800.0));
    assertThat(budget.availableTokens()).isZero();
    assertThat(budget.stats().granted() - grantedBefore).isEqualTo(800);
    assertThat(budget.tryAcquire(AttemptKind.RETRY)).isFalse();
  }

  @Test
  void a6FailuresAndSuccessesAddUpExactly() throws Exception {
    RetryBudget budget = RetryBudget.grpcRetryThrottling(1_000, 0.1);
    race(
        () -> {
          for (int i = 0; i < 100; i++) {
            budget.recordOutcome(1, Outcome.RETRYABLE_FAILURE);
          }
        },
        () -> assertThat(budget.stats().availableTokens()).isBetween(0.0, 1_000.0));
    assertThat(budget.stats().availableTokens()).isEqualTo(600.0);
    race(
        () -> {
          for (int i = 0; i < 1_000; i++) {
            budget.recordOutcome(1, Outcome.SUCCESS);
          }
        },
        () -> assertThat(budget.stats().availableTokens()).isBetween(0.0, 1_000.0));
    assertThat(budget.stats().availableTokens()).isEqualTo(1_000.0);
  }
}
