package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.CircuitBreaker.State;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** The two breakers on a manual clock, with the random draws given: every transition, exactly. */
class CircuitBreakerTest {
  private final ManualClock clock = ManualClock.create();
  private final AtomicReference<Double> draw = new AtomicReference<>(0.5);

  @Nested
  class Classic {
    private ClassicCircuitBreaker.Builder builder() {
      return CircuitBreaker.classic()
          .name("payments:443")
          .ticker(clock.ticker())
          .random(draw::get)
          .slidingWindowCalls(10)
          .minimumCalls(4)
          .failureRateThreshold(0.5)
          .openDuration(Duration.ofSeconds(10))
          .openJitter(0.2)
          .halfOpenProbes(2);
    }

    @Test
    void opensWhenTheFailureRatePassesTheThresholdWithEnoughCalls() {
      ClassicCircuitBreaker breaker = builder().build();
      breaker.onFailure();
      breaker.onFailure();
      breaker.onFailure();
      assertThat(breaker.state()).as("3 calls: fewer than the minimum").isEqualTo(State.CLOSED);
      breaker.onSuccess();
      breaker.onSuccess();
      assertThat(breaker.state()).as("3 of 5").isEqualTo(State.CLOSED);
      assertThat(breaker.tryAcquirePermission()).isTrue();
      breaker.onFailure(); // 4 of 6 failed: 0.67 >= 0.5
      assertThat(breaker.state()).isEqualTo(State.OPEN);
      assertThat(breaker.tryAcquirePermission()).isFalse();
      assertThat(breaker.describeRejection())
          .isEqualTo("circuit open for payments:443 for another 10.000 s: 4 of the last 6 attempts failed");
    }

    @Test
    void theWindowKeepsOnlyTheLastCalls() {
      ClassicCircuitBreaker breaker = builder().minimumCalls(10).build();
      for (int i = 0; i < 4; i++) {
        breaker.onFailure();
      }
      for (int i = 0; i < 10; i++) {
        breaker.onSuccess(); // pushes the four failures out of the window of 10
      }
      breaker.onFailure();
      assertThat(breaker.state()).isEqualTo(State.CLOSED);
      assertThat(breaker.toString()).contains("1 of the last 10 attempts failed");
    }

    @Test
    void theOpenTimeVariesWithTheDraw() {
      draw.set(0.0); // the shortest: 0.8 of 10 s
      ClassicCircuitBreaker breaker = builder().build();
      breaker.forceOpen("told so");
      breaker.reset();
      for (int i = 0; i < 4; i++) {
        breaker.onFailure();
      }
      clock.advance(Duration.ofMillis(7_999));
      assertThat(breaker.tryAcquirePermission()).isFalse();
      clock.advance(Duration.ofMillis(1));
      assertThat(breaker.state()).isEqualTo(State.HALF_OPEN);
      assertThat(breaker.tryAcquirePermission()).isTrue();
    }

    @Test
    void halfOpenLetsTheProbesThroughAndClosesWhenAllSucceed() {
      ClassicCircuitBreaker breaker = builder().build();
      for (int i = 0; i < 4; i++) {
        breaker.onFailure();
      }
      clock.advance(Duration.ofSeconds(10)); // draw 0.5: exactly the open duration
      assertThat(breaker.tryAcquirePermission()).isTrue();
      assertThat(breaker.tryAcquirePermission()).isTrue();
      assertThat(breaker.tryAcquirePermission()).as("only two probes").isFalse();
      assertThat(breaker.describeRejection())
          .isEqualTo(
              "circuit half-open for payments:443: its 2 probes are in flight (it opened because"
                  + " 4 of the last 4 attempts failed)");
      breaker.onIgnored(); // a probe that told nothing makes room for another
      assertThat(breaker.tryAcquirePermission()).isTrue();
      breaker.onSuccess();
      assertThat(breaker.state()).isEqualTo(State.HALF_OPEN);
      breaker.onSuccess();
      assertThat(breaker.state()).isEqualTo(State.CLOSED);
      // Closed with a clean window: one failure does not reopen it.
      breaker.onFailure();
      assertThat(breaker.state()).isEqualTo(State.CLOSED);
    }

    @Test
    void aFailedProbeOpensItAgain() {
      ClassicCircuitBreaker breaker = builder().build();
      for (int i = 0; i < 4; i++) {
        breaker.onFailure();
      }
      clock.advance(Duration.ofSeconds(10));
      assertThat(breaker.tryAcquirePermission()).isTrue();
      breaker.onFailure();
      assertThat(breaker.state()).isEqualTo(State.OPEN);
      assertThat(breaker.describeRejection())
          .isEqualTo("circuit open for payments:443 for another 10.000 s: 1 of 2 probes failed");
    }

    @Test
    void aWindowByTimeForgetsOldResults() {
      ClassicCircuitBreaker breaker = builder().slidingWindowTime(Duration.ofSeconds(10)).build();
      breaker.onFailure();
      breaker.onFailure();
      breaker.onFailure();
      clock.advance(Duration.ofSeconds(11));
      breaker.onFailure();
      assertThat(breaker.state()).as("the first three fell out of the window").isEqualTo(State.CLOSED);
      breaker.onFailure();
      breaker.onFailure();
      breaker.onFailure();
      assertThat(breaker.state()).isEqualTo(State.OPEN);
    }

    @Test
    void onlyTheOverloadSignalsCountAsFailuresByDefault() {
      ClassicCircuitBreaker breaker = builder().build();
      assertThat(breaker.isFailure(Status.UNAVAILABLE)).isTrue();
      assertThat(breaker.isFailure(Status.RESOURCE_EXHAUSTED)).isTrue();
      assertThat(breaker.isFailure(Status.DEADLINE_EXCEEDED)).isTrue();
      assertThat(breaker.isFailure(Status.INVALID_ARGUMENT)).isFalse();
      assertThat(breaker.isFailure(Status.NOT_FOUND)).isFalse();
      assertThat(breaker.isFailure(Status.INTERNAL)).isFalse();
      ClassicCircuitBreaker own = builder().failureCodes(Status.Code.INTERNAL).build();
      assertThat(own.isFailure(Status.INTERNAL)).isTrue();
      assertThat(own.isFailure(Status.UNAVAILABLE)).isFalse();
    }

    @Test
    void aFactoryMakesOneBreakerPerTargetOnTheGivenClock() {
      CircuitBreaker.Factory factory = builder().factory();
      CircuitBreaker a = factory.create("a:1", clock.ticker(), () -> 0.5);
      CircuitBreaker b = factory.create("b:1", clock.ticker(), () -> 0.5);
      for (int i = 0; i < 4; i++) {
        a.onFailure();
      }
      assertThat(a.state()).isEqualTo(State.OPEN);
      assertThat(b.state()).isEqualTo(State.CLOSED);
      assertThat(a.describeRejection()).startsWith("circuit open for a:1 ");
    }

    @Test
    void everyParameterIsChecked() {
      assertThatThrownBy(() -> CircuitBreaker.classic().failureRateThreshold(0))
          .hasMessage("failureRateThreshold must be in (0, 1]: 0.0");
      assertThatThrownBy(() -> CircuitBreaker.classic().failureRateThreshold(1.5))
          .hasMessage("failureRateThreshold must be in (0, 1]: 1.5");
      assertThatThrownBy(() -> CircuitBreaker.classic().slidingWindowCalls(0))
          .hasMessage("slidingWindowCalls must be >= 1: 0");
      assertThatThrownBy(() -> CircuitBreaker.classic().slidingWindowTime(Duration.ZERO))
          .hasMessage("slidingWindowTime must be > 0: PT0S");
      assertThatThrownBy(() -> CircuitBreaker.classic().minimumCalls(0))
          .hasMessage("minimumCalls must be >= 1: 0");
      assertThatThrownBy(() -> CircuitBreaker.classic().openDuration(Duration.ofSeconds(-1)))
          .hasMessage("openDuration must be > 0: PT-1S");
      assertThatThrownBy(() -> CircuitBreaker.classic().openJitter(1))
          .hasMessage("openJitter must be in [0, 1): 1.0");
      assertThatThrownBy(() -> CircuitBreaker.classic().halfOpenProbes(0))
          .hasMessage("halfOpenProbes must be >= 1: 0");
      assertThatThrownBy(() -> CircuitBreaker.classic().failureCodes())
          .hasMessage("failureCodes must name at least one status code");
      assertThatThrownBy(() -> CircuitBreaker.classic().failureCodes(Status.Code.OK))
          .hasMessage("failureCodes must not contain OK: [OK]");
      assertThatThrownBy(() -> CircuitBreaker.classic().slidingWindowCalls(5).minimumCalls(10).build())
          .hasMessage(
              "slidingWindowCalls must be >= minimumCalls, or the breaker never opens:"
                  + " slidingWindowCalls=5, minimumCalls=10");
    }
  }

  @Nested
  class Throttling {
    private AdaptiveThrottling throttle(double k) {
      return CircuitBreaker.adaptiveThrottling()
          .name("payments:443")
          .ticker(clock.ticker())
          .random(draw::get)
          .k(k)
          .window(Duration.ofSeconds(120))
          .buckets(12)
          .build();
    }

    @Test
    void theRejectionProbabilityIsTheSreFormulaExactly() {
      AdaptiveThrottling throttle = throttle(2);
      assertThat(throttle.rejectionProbability()).isZero();
      // 10 requests, 2 accepted: p = (10 - 2 * 2) / 11.
      for (int i = 0; i < 10; i++) {
        assertThat(throttle.tryAcquirePermission()).isTrue(); // p stays 0 until requests > 2 * accepts
        if (i < 2) {
          throttle.onSuccess();
        } else {
          throttle.onFailure();
        }
      }
      assertThat(throttle.rejectionProbability()).isEqualTo(6.0 / 11);
      assertThat(throttle.state()).isEqualTo(State.THROTTLING);
      // The draw decides: below p is refused, at or above it is let through.
      draw.set(6.0 / 11 - 0.001);
      assertThat(throttle.tryAcquirePermission()).isFalse();
      // A permission uses p as of the last result: the refused attempt joins the count at the next.
      draw.set(6.0 / 11);
      assertThat(throttle.tryAcquirePermission()).as("still 6/11 until a result").isTrue();
      throttle.onFailure();
      // 12 asked, 2 accepted: p = (12 - 4) / 13.
      draw.set(8.0 / 13 - 0.001);
      assertThat(throttle.tryAcquirePermission()).isFalse();
      draw.set(8.0 / 13);
      assertThat(throttle.tryAcquirePermission()).isTrue();
      assertThat(throttle.rejectionProbability()).as("14 asked, read afresh").isEqualTo(10.0 / 15);
      throttle.onIgnored(); // the last one told nothing: 13 asked
      assertThat(throttle.describeRejection())
          .isEqualTo(
              "rejected locally by adaptive throttling for payments:443, p = 0.64 (13 attempts"
                  + " asked, 2 answered in the last PT2M, K = 2.0)");
    }

    @Test
    void aHealthyTargetIsNeverThrottled() {
      AdaptiveThrottling throttle = throttle(2);
      draw.set(0.0); // the most eager draw: would be refused by any p > 0
      for (int i = 0; i < 1_000; i++) {
        assertThat(throttle.tryAcquirePermission()).isTrue();
        throttle.onSuccess();
      }
      assertThat(throttle.state()).isEqualTo(State.CLOSED);
    }

    @Test
    void oldBucketsFallOutOfTheWindow() {
      AdaptiveThrottling throttle = throttle(1.1);
      for (int i = 0; i < 100; i++) {
        throttle.tryAcquirePermission();
        throttle.onFailure();
      }
      assertThat(throttle.rejectionProbability()).isEqualTo(100.0 / 101);
      clock.advance(Duration.ofSeconds(110));
      assertThat(throttle.rejectionProbability()).as("still in the window").isEqualTo(100.0 / 101);
      clock.advance(Duration.ofSeconds(10));
      assertThat(throttle.rejectionProbability()).as("all twelve buckets moved on").isZero();
    }

    @Test
    void anIgnoredAttemptCountsForNothing() {
      AdaptiveThrottling throttle = throttle(2);
      for (int i = 0; i < 5; i++) {
        throttle.tryAcquirePermission();
        throttle.onIgnored();
      }
      assertThat(throttle.rejectionProbability()).isZero();
      assertThat(throttle.describeRejection()).contains("(0 attempts asked, 0 answered");
    }

    @Test
    void everyParameterIsChecked() {
      assertThatThrownBy(() -> CircuitBreaker.adaptiveThrottling().k(0.9))
          .hasMessage("k must be a finite number >= 1: 0.9");
      assertThatThrownBy(() -> CircuitBreaker.adaptiveThrottling().k(Double.POSITIVE_INFINITY))
          .hasMessage("k must be a finite number >= 1: Infinity");
      assertThatThrownBy(() -> CircuitBreaker.adaptiveThrottling().window(Duration.ZERO))
          .hasMessage("window must be > 0: PT0S");
      assertThatThrownBy(() -> CircuitBreaker.adaptiveThrottling().buckets(0))
          .hasMessage("buckets must be from 1 to 1,000: 0");
      assertThatThrownBy(() -> CircuitBreaker.adaptiveThrottling().failureCodes())
          .hasMessage("failureCodes must name at least one status code");
    }
  }
}
