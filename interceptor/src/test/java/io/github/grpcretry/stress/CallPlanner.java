package io.github.grpcretry.stress;

import io.github.grpcretry.CallPolicy;
import io.github.grpcretry.HedgingPolicy;
import io.github.grpcretry.Jitter;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.stress.AttemptScript.End;
import io.github.grpcretry.stress.AttemptScript.Hint;
import io.github.grpcretry.stress.AttemptScript.Trigger;
import io.github.grpcretry.stress.CallPlan.BudgetMisbehaviour;
import io.github.grpcretry.stress.CallPlan.ClientActions;
import io.github.grpcretry.stress.CallPlan.BreakerKind;
import io.github.grpcretry.stress.CallPlan.DeadlineSource;
import io.github.grpcretry.stress.CallPlan.Extras;
import io.github.grpcretry.stress.CallPlan.ListenerMisbehaviour;
import io.grpc.Status.Code;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * Draws {@link CallPlan}s. The plan of call {@code index} comes from its own {@link Random}, seeded
 * from the run's seed and the index, so it does not depend on how many calls ran before it or in
 * which order threads got to them.
 *
 * <p>Thread-safe: stateless apart from its immutable configuration.
 */
final class CallPlanner {
  /** Codes a policy may retry (or a hedging policy treat as non-fatal). */
  static final List<Code> RETRYABLE_POOL =
      List.of(Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.ABORTED);
  /** Codes no policy drawn here retries, except INTERNAL/ABORTED as idempotent-only codes. */
  static final List<Code> OTHER_CODES =
      List.of(
          Code.INVALID_ARGUMENT,
          Code.NOT_FOUND,
          Code.FAILED_PRECONDITION,
          Code.PERMISSION_DENIED,
          Code.INTERNAL,
          Code.DATA_LOSS);
  private static final List<String> BAD_PUSHBACKS = List.of("-1", "-250", "soon", "1.5");

  private final long seed;
  private final FeatureMix mix;

  CallPlanner(long seed, FeatureMix mix) {
    this.seed = seed;
    this.mix = mix;
  }

  CallPlan plan(int index, long callId) {
    Random r = new Random(mixBits(seed, index));
    // The newer features come from a stream of their own: the rest of a plan stays what it was.
    Extras extras = extras(new Random(mixBits(seed ^ EXTRAS_STREAM, index)));
    Transport transport = pick(r, Transport.values());
    StressMethod method = pick(r, StressMethod.values());
    // A key makes any method safe to repeat, hence hedgeable.
    boolean safe = method.safeToRepeat() || extras.idempotencyKey();
    boolean hedge = safe && r.nextDouble() < mix.hedging;

    DeadlineSource deadlineSource = DeadlineSource.NONE;
    long deadlineMillis = 0;
    if (r.nextDouble() < mix.deadline) {
      double d = r.nextDouble();
      deadlineSource =
          d < mix.deadlineFromPolicy
              ? DeadlineSource.POLICY_TIMEOUT
              : d < mix.deadlineFromPolicy + mix.deadlineFromContext
                  ? DeadlineSource.CONTEXT
                  : DeadlineSource.CALL_OPTIONS;
      deadlineMillis = 15 + r.nextInt(66);
    }

    CallPolicy policy;
    Set<Code> retried;
    if (hedge) {
      EnumSet<Code> nonFatal = subset(r, RETRYABLE_POOL, true);
      HedgingPolicy.Builder b =
          HedgingPolicy.newBuilder()
              .maxAttempts(1 + r.nextInt(5))
              .hedgingDelay(
                  r.nextDouble() < 0.3 ? Duration.ZERO : Duration.ofNanos(micros(1 + r.nextInt(3000))))
              .nonFatalStatusCodes(nonFatal);
      if (deadlineSource == DeadlineSource.POLICY_TIMEOUT) {
        b.timeout(Duration.ofMillis(deadlineMillis));
      }
      policy = b.idempotencyKey(extras.idempotencyKey()).build();
      retried = nonFatal;
    } else {
      EnumSet<Code> retryable = subset(r, RETRYABLE_POOL, false);
      long initialMicros = logUniform(r, 1, 1000);
      long maxMicros = Math.min(2000, initialMicros * (1 + r.nextInt(4)));
      RetryPolicy.Builder b =
          RetryPolicy.newBuilder()
              .maxAttempts(1 + r.nextInt(5))
              .initialBackoff(Duration.ofNanos(micros(initialMicros)))
              .maxBackoff(Duration.ofNanos(micros(Math.max(initialMicros, maxMicros))))
              .backoffMultiplier(1 + 2 * r.nextDouble())
              .jitter(pick(r, Jitter.values()))
              .retryableStatusCodes(retryable);
      EnumSet<Code> idempotentOnly = EnumSet.noneOf(Code.class);
      if (r.nextDouble() < 0.3) {
        idempotentOnly = subset(r, List.of(Code.ABORTED, Code.INTERNAL), true);
        b.idempotentRetryableStatusCodes(idempotentOnly.toArray(new Code[0]));
      }
      if (r.nextDouble() < mix.perAttemptTimeout) {
        b.perAttemptTimeout(Duration.ofNanos(micros(2000 + r.nextInt(6000))));
      }
      if (deadlineSource == DeadlineSource.POLICY_TIMEOUT) {
        b.timeout(Duration.ofMillis(deadlineMillis));
      }
      policy = b.idempotencyKey(extras.idempotencyKey()).build();
      retried = EnumSet.copyOf(retryable);
      if (safe) {
        retried.addAll(idempotentOnly);
      }
    }

    List<AttemptScript> scripts = new ArrayList<>();
    for (int i = 0; i < policy.maxAttempts(); i++) {
      scripts.add(script(r, method, i, retried));
    }

    ClientActions actions = actions(r, method);
    boolean hangs = scripts.stream().anyMatch(s -> s.end() == End.HANG);
    boolean ends =
        deadlineSource != DeadlineSource.NONE
            || actions.cancelAtMicros() >= 0
            || actions.contextCancelAtMicros() >= 0;
    if (hangs && !ends) {
      // A server that hangs needs something on the client to end the call; a per-attempt timeout
      // does not count, so that the call's end does not depend on how an engine reads it.
      deadlineSource = DeadlineSource.CALL_OPTIONS;
      deadlineMillis = 15 + r.nextInt(66);
    }
    return new CallPlan(
        seed, index, callId, transport, method, policy, deadlineSource, deadlineMillis, scripts,
        actions, extras);
  }

  private static final long EXTRAS_STREAM = 0x6A09E667F3BCC909L;

  private Extras extras(Random x) {
    boolean listener = x.nextDouble() < mix.listener;
    ListenerMisbehaviour misbehaviour = ListenerMisbehaviour.NONE;
    int slowMicros = 0;
    if (listener && x.nextDouble() < mix.listenerMisbehaves) {
      misbehaviour = x.nextBoolean() ? ListenerMisbehaviour.THROWS : ListenerMisbehaviour.SLOW;
      slowMicros = 20 + x.nextInt(300);
    }
    BreakerKind breaker = BreakerKind.NONE;
    int breakerAt = -1;
    int breakerSlowMicros = 0;
    if (x.nextDouble() < mix.breaker) {
      if (x.nextDouble() < mix.breakerMisbehaves) {
        breaker =
            pick(
                x,
                new BreakerKind[] {
                  BreakerKind.SLOW,
                  BreakerKind.REFUSES,
                  BreakerKind.THROWS_ON_PERMISSION,
                  BreakerKind.THROWS_ON_REPORT
                });
        breakerAt = breaker.name().startsWith("THROWS") ? 1 + x.nextInt(3) : -1;
        breakerSlowMicros = 20 + x.nextInt(500);
      } else {
        breaker =
            pick(
                x,
                new BreakerKind[] {BreakerKind.PERMIT_ALL, BreakerKind.CLASSIC, BreakerKind.ADAPTIVE});
      }
    }
    boolean key = x.nextDouble() < mix.idempotencyKey;
    return new Extras(
        listener, misbehaviour, slowMicros, breaker, breakerAt, breakerSlowMicros, key);
  }

  private AttemptScript script(Random r, StressMethod method, int attempt, Set<Code> retried) {
    // Later attempts succeed more often, so that retries have something to find.
    double succeeds = mix.serverSucceeds * (1 + attempt * 0.5);
    double total =
        succeeds
            + mix.serverFailsBeforeHeaders
            + mix.serverFailsAfterHeaders
            + mix.serverFailsAfterMessages
            + mix.serverHangs;
    double x = r.nextDouble() * total;
    int most = method.serverStreams() ? 4 : 1;
    boolean headers;
    int messages;
    End end;
    if ((x -= succeeds) < 0) {
      end = End.OK;
      messages = method.serverStreams() ? r.nextInt(most + 1) : 1;
      headers = messages > 0 || r.nextBoolean();
    } else if ((x -= mix.serverFailsBeforeHeaders) < 0) {
      end = End.ERROR;
      headers = false;
      messages = 0;
    } else if ((x -= mix.serverFailsAfterHeaders) < 0) {
      end = End.ERROR;
      headers = true;
      messages = 0;
    } else if ((x -= mix.serverFailsAfterMessages) < 0) {
      end = End.ERROR;
      headers = true;
      messages = 1 + r.nextInt(most);
    } else {
      end = End.HANG;
      double v = r.nextDouble();
      headers = v >= 0.6;
      messages = v >= 0.8 ? 1 + r.nextInt(most) : 0;
    }
    Code code = Code.OK;
    Hint hint = Hint.NONE;
    String hintValue = "";
    if (end == End.ERROR) {
      if (r.nextDouble() < mix.nonRetryableCode || retried.isEmpty()) {
        List<Code> others = new ArrayList<>(OTHER_CODES);
        others.addAll(RETRYABLE_POOL);
        others.removeAll(retried);
        code = pick(r, others.toArray(new Code[0]));
      } else {
        code = pick(r, retried.toArray(new Code[0]));
      }
      double h = r.nextDouble();
      if ((h -= mix.pushback) < 0) {
        hint = Hint.PUSHBACK;
        hintValue = Integer.toString(r.nextInt(4));
      } else if ((h -= mix.badPushback) < 0) {
        hint = Hint.BAD_PUSHBACK;
        hintValue = pick(r, BAD_PUSHBACKS.toArray(new String[0]));
      } else if ((h -= mix.retryInfo) < 0) {
        hint = Hint.RETRY_INFO;
        hintValue = Integer.toString(r.nextInt(4));
      }
    }
    Trigger trigger;
    double t = r.nextDouble();
    if (t < 0.1) {
      trigger = Trigger.START;
    } else if (method.clientStreams() && t < 0.4) {
      trigger = Trigger.FIRST_MESSAGE;
    } else {
      trigger = Trigger.HALF_CLOSE;
    }
    int delayMicros = r.nextDouble() < mix.serverSlow ? 200 + r.nextInt(4800) : 0;
    return new AttemptScript(trigger, delayMicros, headers, messages, end, code, hint, hintValue);
  }

  private ClientActions actions(Random r, StressMethod method) {
    int requestMessages = method.clientStreams() ? 1 + r.nextInt(5) : 1;
    CallPlan.Sending sending = CallPlan.Sending.AT_ONCE;
    if (method.clientStreams() && r.nextDouble() < mix.onReadySender) {
      sending = r.nextBoolean() ? CallPlan.Sending.WHEN_READY : CallPlan.Sending.AFTER_FIRST_ON_READY;
    }
    boolean slowReader = r.nextDouble() < mix.slowReader;
    int readerPause = 50 + r.nextInt(2000);
    int upFront = r.nextBoolean() ? 16 : Integer.MAX_VALUE;
    long cancelAt = r.nextDouble() < mix.appCancel ? cancelMoment(r) : -1;
    long contextCancelAt = r.nextDouble() < mix.contextCancel ? cancelMoment(r) : -1;
    // Not with a slow reader: a reader whose onMessage threw asks for nothing more, and gRPC's
    // in-process transport then never delivers a close queued behind unread messages, with or
    // without the interceptor.
    int listenerThrows =
        !slowReader && r.nextDouble() < mix.listenerThrows ? 1 + r.nextInt(2) : -1;
    int classifierThrows = r.nextDouble() < mix.classifierThrows ? 1 + r.nextInt(2) : -1;
    BudgetMisbehaviour budget = BudgetMisbehaviour.NONE;
    int budgetAt = -1;
    int budgetSlowMicros = 0;
    double b = r.nextDouble();
    if (b < mix.budgetThrows) {
      budget = BudgetMisbehaviour.THROWS;
      budgetAt = 1 + r.nextInt(2);
    } else if (b < mix.budgetThrows + mix.budgetSlow) {
      budget = BudgetMisbehaviour.SLOW;
      budgetSlowMicros = 50 + r.nextInt(1950);
    }
    return new ClientActions(
        requestMessages,
        sending,
        slowReader,
        readerPause,
        upFront,
        cancelAt,
        contextCancelAt,
        listenerThrows,
        classifierThrows,
        budget,
        budgetAt,
        budgetSlowMicros);
  }

  /** At once (from another thread) in one case out of six, else 10 us to 20 ms. */
  private static long cancelMoment(Random r) {
    return r.nextInt(6) == 0 ? 0 : logUniform(r, 10, 20_000);
  }

  private static EnumSet<Code> subset(Random r, List<Code> pool, boolean mayBeEmpty) {
    EnumSet<Code> set = EnumSet.noneOf(Code.class);
    for (Code c : pool) {
      if (r.nextBoolean()) {
        set.add(c);
      }
    }
    if (set.isEmpty() && !mayBeEmpty) {
      set.add(pool.get(r.nextInt(pool.size())));
    }
    return set;
  }

  private static long logUniform(Random r, long min, long max) {
    double v = Math.exp(Math.log(min) + r.nextDouble() * (Math.log(max) - Math.log(min)));
    return Math.max(min, Math.min(max, Math.round(v)));
  }

  private static long micros(long micros) {
    return micros * 1000;
  }

  private static <T> T pick(Random r, T[] values) {
    return values[r.nextInt(values.length)];
  }

  /** SplitMix64's finalizer over seed and index: neighbouring indexes get unrelated streams. */
  private static long mixBits(long seed, int index) {
    long z = seed + 0x9E3779B97F4A7C15L * (index + 1L);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
