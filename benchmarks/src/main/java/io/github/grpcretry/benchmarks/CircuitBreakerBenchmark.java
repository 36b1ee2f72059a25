package io.github.grpcretry.benchmarks;

import io.github.grpcretry.AdaptiveThrottling;
import io.github.grpcretry.CircuitBreaker;
import io.github.grpcretry.ClassicCircuitBreaker;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The permission check that runs before every attempt, with two threads sharing one breaker.
 *
 * <ul>
 *   <li>{@code classic-closed}: a {@link ClassicCircuitBreaker} that is closed, the healthy case;
 *   <li>{@code throttling-healthy}: {@link AdaptiveThrottling} whose target answers everything, so
 *       nothing is refused but every permission is counted;
 *   <li>{@code throttling-refusing}: {@link AdaptiveThrottling} after a window of failures, so
 *       that about 99% of permissions are refused after a random draw.
 * </ul>
 *
 * <p>The check alone is measured; the results it would be told are not.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Threads(2)
@Fork(2)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
public class CircuitBreakerBenchmark {

  @Param({"classic-closed", "throttling-healthy", "throttling-refusing"})
  public String breakerType;

  private CircuitBreaker breaker;

  @Setup(Level.Trial)
  public void start() {
    switch (breakerType) {
      case "classic-closed":
        breaker = CircuitBreaker.classic().build();
        break;
      case "throttling-healthy":
        breaker = CircuitBreaker.adaptiveThrottling().build();
        for (int i = 0; i < 1_000; i++) {
          breaker.tryAcquirePermission();
          breaker.onSuccess();
        }
        break;
      case "throttling-refusing":
        breaker = CircuitBreaker.adaptiveThrottling().build();
        for (int i = 0; i < 100_000; i++) {
          breaker.tryAcquirePermission();
          breaker.onFailure();
        }
        break;
      default:
        throw new IllegalArgumentException(
            "breakerType must be classic-closed, throttling-healthy or throttling-refusing: "
                + breakerType);
    }
  }

  @Benchmark
  public boolean tryAcquirePermission() {
    return breaker.tryAcquirePermission();
  }
}
