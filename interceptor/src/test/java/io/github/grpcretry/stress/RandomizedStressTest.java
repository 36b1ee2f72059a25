package io.github.grpcretry.stress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.grpcretry.CallPolicy;
import io.github.grpcretry.HedgingPolicy;
import io.github.grpcretry.RetryListener;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.stress.CallPlan.BudgetMisbehaviour;
import io.github.grpcretry.stress.CallPlan.ClientActions;
import io.github.grpcretry.stress.CallPlan.DeadlineSource;
import io.github.grpcretry.stress.CallRecord.AttemptTrace;
import io.grpc.Status;
import io.grpc.Status.Code;
import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
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
 *
 * <p>A second, quick test feeds the checker hand-made histories, so that a checker that reports
 * nothing (or everything) cannot pass for an engine that does everything right.
 */
class RandomizedStressTest {

  @Test
  void randomCallsKeepEveryInvariant() {
    StressConfig config = StressConfig.fromSystemProperties();
    StressReport report = new StressRun(config, System.out).run();
    System.out.println(report.render());
    if (report.failed()) {
      System.out.println(
          "All kept violation records:\n" + report.violations().describeSamples(Integer.MAX_VALUE));
      fail(report.failureMessage());
    }
  }

  @Test
  void checkerTellsBrokenHistoriesFromSoundOnes() {
    RetryPolicy retry =
        RetryPolicy.newBuilder().maxAttempts(3).retryableStatusCodes(Code.UNAVAILABLE).build();
    HedgingPolicy hedging = HedgingPolicy.newBuilder().maxAttempts(3).build();

    // A retried call that went right.
    History h = new History(StressMethod.GET_ITEM, retry);
    AttemptTrace a0 = h.start(0);
    h.serverFails(0, Code.UNAVAILABLE);
    h.belowClose(a0, Code.UNAVAILABLE, true);
    AttemptTrace a1 = h.start(1);
    h.serverSucceeds(1, 1);
    h.belowHeaders(a1);
    h.appHeaders(1);
    h.belowMessage(a1, 0);
    h.appMessage(1, 0);
    h.belowClose(a1, Code.OK, true);
    h.appClose(Code.OK, 1);
    assertThat(h.check()).isEmpty();

    // Messages of two attempts, then a gap.
    h = new History(StressMethod.LIST_ITEMS, retry);
    h.start(0);
    h.appMessage(0, 0);
    h.appMessage(1, 0);
    h.appClose(Code.UNAVAILABLE, -1);
    assertThat(h.check()).contains(Invariant.MIXED_ATTEMPTS);
    h = new History(StressMethod.LIST_ITEMS, retry);
    h.start(0);
    h.appMessage(0, 0);
    h.appMessage(0, 2);
    h.appClose(Code.UNAVAILABLE, -1);
    assertThat(h.check()).containsOnly(Invariant.SEQUENCE_BROKEN);

    // The server's OK reached the transport; the application got DEADLINE_EXCEEDED instead.
    h = answerRewritten(retry, false);
    assertThat(h.check()).containsOnly(Invariant.ANSWER_LOST);
    // The same when the application cancelled first: cancel may win the race.
    assertThat(answerRewritten(retry, true).check()).isEmpty();

    // OK without the message of the attempt that ended OK.
    h = new History(StressMethod.GET_ITEM, retry);
    AttemptTrace b0 = h.start(0);
    h.serverSucceeds(0, 1);
    h.belowClose(b0, Code.OK, true);
    h.appClose(Code.OK, 0);
    assertThat(h.check()).containsOnly(Invariant.OK_INCOMPLETE);

    // A second attempt after the application saw the first one's headers: wrong for a retry
    // policy, a straddling hedge (counted only) for hedging.
    assertThat(attemptAfterHeaders(retry).check()).containsOnly(Invariant.ATTEMPT_AFTER_COMMIT);
    assertThat(attemptAfterHeaders(hedging).check()).isEmpty();

    // A retry after INVALID_ARGUMENT; not judged once a per-attempt timer may have fired first.
    assertThat(retryAfterFinalStatus(retry, 100).check())
        .containsOnly(Invariant.ATTEMPT_AFTER_NON_RETRYABLE);
    RetryPolicy timed = retry.toBuilder().perAttemptTimeout(Duration.ofMillis(2)).build();
    assertThat(retryAfterFinalStatus(timed, 100).check())
        .containsOnly(Invariant.ATTEMPT_AFTER_NON_RETRYABLE);
    assertThat(retryAfterFinalStatus(timed, 3000).check()).isEmpty();

    // An attempt after the application's close, and one too many.
    h = new History(StressMethod.PUT_ITEM, hedging);
    h.start(0);
    h.appClose(Code.UNAVAILABLE, -1);
    h.start(1);
    assertThat(h.check()).containsOnly(Invariant.ATTEMPT_AFTER_CLOSE);
    h = new History(StressMethod.PUT_ITEM, RetryPolicy.newBuilder().maxAttempts(2).build());
    h.start(0);
    h.start(1);
    h.start(2);
    h.appClose(Code.UNAVAILABLE, -1);
    assertThat(h.check()).containsOnly(Invariant.ATTEMPT_LIMIT);

    // Listener events: a sound story, then one with an attempt that never ends and a wrong count.
    CallPlan.Extras listened =
        new CallPlan.Extras(
            true, CallPlan.ListenerMisbehaviour.NONE, 0, CallPlan.BreakerKind.NONE, -1, 0, false);
    assertThat(listenedCall(retry, listened, true).check()).isEmpty();
    assertThat(listenedCall(retry, listened, false).check()).containsOnly(Invariant.LISTENER);

    // A breaker's permission without a report; a refused call that still reached the server.
    CallPlan.Extras broken =
        new CallPlan.Extras(
            false, CallPlan.ListenerMisbehaviour.NONE, 0, CallPlan.BreakerKind.PERMIT_ALL, -1, 0, false);
    h = new History(StressMethod.GET_ITEM, retry, broken);
    h.record.breakerAsked();
    h.record.breakerAnswered(1, true);
    AttemptTrace c0 = h.start(0);
    h.serverFails(0, Code.INVALID_ARGUMENT);
    h.belowClose(c0, Code.INVALID_ARGUMENT, true);
    h.appClose(Code.INVALID_ARGUMENT, -1);
    assertThat(h.check()).containsOnly(Invariant.BREAKER_BALANCE);
    h.record.breakerReported("onSuccess");
    assertThat(h.check()).isEmpty();
    h.record.breakerReported("onIgnored");
    assertThat(h.check()).containsOnly(Invariant.BREAKER_BALANCE);
    h = new History(StressMethod.GET_ITEM, retry, broken);
    h.record.breakerAsked();
    h.record.breakerAnswered(1, false);
    h.serverFails(0, Code.UNAVAILABLE);
    h.appClose(Code.UNAVAILABLE, -1);
    assertThat(h.check()).containsOnly(Invariant.BREAKER_REJECTED);

    // Two attempts of one call with different keys, and a key on a call without one.
    RetryPolicy keyed = retry.toBuilder().idempotencyKey(true).build();
    CallPlan.Extras withKey =
        new CallPlan.Extras(
            false, CallPlan.ListenerMisbehaviour.NONE, 0, CallPlan.BreakerKind.NONE, -1, 0, true);
    h = new History(StressMethod.CREATE_ITEM, keyed, withKey);
    h.serverFails(0, Code.UNAVAILABLE).key = "k1";
    h.serverFails(1, Code.UNAVAILABLE).key = "k1";
    h.appClose(Code.UNAVAILABLE, -1);
    assertThat(h.check()).isEmpty();
    h.serverFails(2, Code.UNAVAILABLE).key = "k2";
    assertThat(h.check()).containsOnly(Invariant.KEYS);
    h = new History(StressMethod.CREATE_ITEM, retry);
    h.serverFails(0, Code.UNAVAILABLE).key = "k1";
    h.appClose(Code.UNAVAILABLE, -1);
    assertThat(h.check()).containsOnly(Invariant.KEYS);
  }

  private static History listenedCall(CallPolicy policy, CallPlan.Extras extras, boolean sound) {
    History h = new History(StressMethod.GET_ITEM, policy, extras);
    String m = "demo/Get";
    String t = "stress-call-7";
    h.listen(
        new RetryListener.AttemptStarted(
            m, t, 1, RetryListener.AttemptKind.FIRST, Duration.ZERO, RetryListener.DelaySource.NONE));
    h.listen(
        new RetryListener.AttemptEnded(m, t, 1, Status.UNAVAILABLE, Duration.ZERO, null));
    h.listen(
        new RetryListener.AttemptStarted(
            m, t, 2, RetryListener.AttemptKind.RETRY, Duration.ZERO, RetryListener.DelaySource.BACKOFF));
    if (sound) {
      h.listen(new RetryListener.CallCommitted(m, t, 2));
      h.listen(new RetryListener.AttemptEnded(m, t, 2, Status.UNAVAILABLE, Duration.ZERO, null));
    }
    h.listen(
        new RetryListener.CallClosed(
            m, t, Status.UNAVAILABLE, sound ? 2 : 3, 0, Duration.ZERO, Duration.ZERO));
    h.appClose(Code.UNAVAILABLE, -1);
    return h;
  }

  private static History answerRewritten(CallPolicy policy, boolean appCancelsFirst) {
    History h = new History(StressMethod.GET_ITEM, policy);
    AttemptTrace a = h.start(0);
    h.serverSucceeds(0, 1);
    h.belowHeaders(a);
    h.appHeaders(0);
    h.belowMessage(a, 0);
    h.appMessage(0, 0);
    if (appCancelsFirst) {
      h.record.appCancel(h.clock.next());
    }
    h.belowClose(a, Code.OK, true);
    h.appClose(Code.DEADLINE_EXCEEDED, 0);
    return h;
  }

  private static History attemptAfterHeaders(CallPolicy policy) {
    History h = new History(StressMethod.GET_ITEM, policy);
    AttemptTrace a = h.start(0);
    h.serverSucceeds(0, 1);
    h.belowHeaders(a);
    h.appHeaders(0);
    h.start(1);
    h.belowMessage(a, 0);
    h.appMessage(0, 0);
    h.belowClose(a, Code.OK, true);
    h.appClose(Code.OK, 0);
    return h;
  }

  private static History retryAfterFinalStatus(RetryPolicy policy, long closeAfterMicros) {
    History h = new History(StressMethod.GET_ITEM, policy);
    AttemptTrace a = h.start(0);
    h.serverFails(0, Code.INVALID_ARGUMENT);
    h.advanceMicros(closeAfterMicros);
    h.belowClose(a, Code.INVALID_ARGUMENT, true);
    h.start(1);
    h.appClose(Code.UNAVAILABLE, -1);
    return h;
  }

  /** A call's record written by hand, on a clock moved by hand. */
  private static final class History {
    final AtomicLong now = new AtomicLong(TimeUnit.SECONDS.toNanos(1));
    final EventClock clock = new EventClock(now::get);
    final CallRecord record;
    private final long callId = 7;

    History(StressMethod method, CallPolicy policy) {
      this(method, policy, CallPlan.Extras.NONE);
    }

    History(StressMethod method, CallPolicy policy, CallPlan.Extras extras) {
      ClientActions actions =
          new ClientActions(
              1, CallPlan.Sending.AT_ONCE, false, 0, 16, -1, -1, -1, -1, BudgetMisbehaviour.NONE, -1, 0);
      CallPlan plan =
          new CallPlan(
              1, 0, callId, Transport.IN_PROCESS_DIRECT, method, policy, DeadlineSource.NONE, 0,
              List.of(), actions, extras);
      record = new CallRecord(plan, clock);
      record.appStarting(clock.next());
      record.appStarted(now.get());
    }

    void listen(Object event) {
      record.listenerEnter(event);
      record.listenerExit();
    }

    void advanceMicros(long micros) {
      now.addAndGet(TimeUnit.MICROSECONDS.toNanos(micros));
    }

    AttemptTrace start(int n) {
      return record.attemptStarted(n, clock.next(), "");
    }

    void serverSucceeds(int n, int messages) {
      ServerAttempt s = server(n);
      s.headersSent();
      for (int i = 0; i < messages; i++) {
        s.messageSent();
      }
      s.closing(Status.OK);
      s.ended("completed", clock.next());
    }

    ServerAttempt serverFails(int n, Code code) {
      ServerAttempt s = server(n);
      s.closing(Status.fromCode(code));
      s.ended("completed", clock.next());
      return s;
    }

    private ServerAttempt server(int n) {
      ServerAttempt s = new ServerAttempt(callId, n, clock.next(), n, record);
      record.serverAttempt(s);
      return s;
    }

    void belowHeaders(AttemptTrace t) {
      record.attemptHeaders(t, clock.next(), t.number);
    }

    void belowMessage(AttemptTrace t, int seq) {
      record.attemptMessage(t, clock.next(), new StressHeaders.Tag(callId, t.number, seq));
    }

    void belowClose(AttemptTrace t, Code code, boolean fromServer) {
      record.attemptClosed(t, clock.next(), Status.fromCode(code), fromServer ? t.number : -1, null);
      record.attemptCloseReturned(t);
    }

    void appHeaders(int attempt) {
      record.appHeaders(clock.next(), attempt);
    }

    void appMessage(int attempt, int seq) {
      Item item = Item.newBuilder().setId(StressHeaders.messageTag(callId, attempt, seq)).build();
      record.appMessage(clock.next(), item);
    }

    void appClose(Code code, int attempt) {
      record.appClose(clock.next(), Status.fromCode(code), attempt);
    }

    Set<Invariant> check() {
      PrintStream silent = new PrintStream(OutputStream.nullOutputStream());
      Violations violations = new Violations("self-test", 10, 0, silent);
      InvariantChecker checker = new InvariantChecker(violations, new Figures());
      checker.check(record);
      checker.checkExtras(record, true);
      return violations.counts().keySet();
    }
  }
}
