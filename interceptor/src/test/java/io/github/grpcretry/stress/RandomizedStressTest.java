package io.github.grpcretry.stress;

import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Test;

/**
 * A randomized stress test of the retry interceptor through its public API only: thousands of
 * calls of all four kinds, over an in-process server and a Netty server on loopback, each with a
 * random policy (retry or hedging), deadline, server script (one behaviour per attempt: succeed,
 * fail before or after headers or after some messages, hang, answer slowly, push back, send
 * RetryInfo) and client behaviour (cancel, Context cancellation, slow reader, onReady-driven
 * sender, misbehaving listener, classifier and budget). Every call is checked against the
 * invariants listed in {@code README.md} next to this class; the run fails with a count per
 * invariant and the full record of the first violations of each kind.
 *
 * <p>Flags (system properties, passed through to the forked test JVM):
 *
 * <ul>
 *   <li>{@code -Dgrpcretry.stress.seed=N}: the seed; random (and printed) when absent. A call's
 *       plan depends only on the seed and its index, so a seed reproduces the same calls (though
 *       not the same thread interleavings);
 *   <li>{@code -Dgrpcretry.stress.calls=N}: how many calls, {@value StressConfig#DEFAULT_CALLS} by
 *       default (well under a minute on two cores); {@code 1000000} for a long run, which streams
 *       through calls in bounded memory;
 *   <li>{@code -Dgrpcretry.stress.concurrency=N}: calls in flight at most, {@value
 *       StressConfig#DEFAULT_CONCURRENCY} by default;
 *   <li>{@code -Dgrpcretry.stress.only=I}: give every call the plan of call index {@code I}, to
 *       hammer one failing scenario;
 *   <li>{@code -Dgrpcretry.stress.samples=N}: how many violations of each kind are printed in full
 *       to the test's output (3 by default; the failure message shows the first of each kind).
 * </ul>
 *
 * <p>The mix of features is set in code: {@link FeatureMix}.
 *
 * <pre>
 * mvn -B -pl interceptor -am test -Dtest=RandomizedStressTest -Dsurefire.failIfNoSpecifiedTests=false
 * mvn -B -pl interceptor -am test -Dtest=RandomizedStressTest -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Dgrpcretry.stress.calls=1000000
 * </pre>
 */
class RandomizedStressTest {

  @Test
  void randomCallsKeepEveryInvariant() {
    StressConfig config = StressConfig.fromSystemProperties();
    StressReport report = new StressRun(config, System.out).run();
    System.out.println(report.render());
    if (report.failed()) {
      System.out.println("All kept violation records:\n" + report.violations().describeSamples(Integer.MAX_VALUE));
      fail(report.failureMessage());
    }
  }
}
