package io.github.grpcretry.stress;

import io.github.grpcretry.RetryListener;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.stress.CallRecord.AttemptTrace;
import io.github.grpcretry.stress.CallRecord.Snapshot;
import io.github.grpcretry.stress.StressHeaders.Tag;
import io.grpc.Status;
import io.grpc.Status.Code;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * The per-call invariants (2 and 3; invariant 1 is checked as callbacks arrive, 4 by the
 * watchdog), checked once the call has closed and settled. Every check is stated so that a correct
 * engine cannot fail it whatever the interleaving; where that needs a restriction, the restriction
 * and the reason are next to the check.
 *
 * <p>Thread-safe: stateless apart from where it reports.
 */
final class InvariantChecker {
  /** Clock granularity: a close observed this close to a timer's earliest firing is not trusted. */
  private static final long TIMER_MARGIN_NANOS = TimeUnit.MICROSECONDS.toNanos(200);
  /** A close this close to the deadline may have been decided by the deadline. */
  private static final long DEADLINE_MARGIN_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

  private final Violations violations;
  private final Figures figures;

  InvariantChecker(Violations violations, Figures figures) {
    this.violations = violations;
    this.figures = figures;
  }

  void check(CallRecord record) {
    Snapshot s = record.snapshot();
    CallPlan plan = record.plan;
    long callId = plan.callId();

    // ---- 2: one attempt, in order, complete.
    TreeSet<Integer> sources = new TreeSet<>();
    List<String> foreign = new ArrayList<>();
    for (Tag tag : s.messages()) {
      if (tag.callId() != callId) {
        foreign.add("message " + tag);
      } else {
        sources.add(tag.attempt());
      }
    }
    for (String untagged : s.untaggedMessages()) {
      foreign.add("untagged message " + untagged);
    }
    if (s.headersAttempt() == -2) {
      foreign.add("headers of another call");
    } else if (s.headersAttempt() >= 0) {
      sources.add(s.headersAttempt());
    }
    // The final trailers belong to the committed attempt too, once it delivered anything: after
    // commit every other attempt's callbacks are dropped.
    if (s.closeAttempt() == -2) {
      foreign.add("trailers of another call");
    } else if (s.closeAttempt() >= 0 && !sources.isEmpty()) {
      sources.add(s.closeAttempt());
    }
    if (!foreign.isEmpty()) {
      violations.report(Invariant.MIXED_ATTEMPTS, record, "the application got " + foreign);
    }
    if (sources.size() > 1) {
      violations.report(
          Invariant.MIXED_ATTEMPTS,
          record,
          "the application's headers/messages/trailers come from attempts "
              + sources
              + ": messages "
              + s.messages()
              + ", headers of attempt "
              + s.headersAttempt()
              + ", trailers of attempt "
              + s.closeAttempt());
    }
    List<Tag> own = new ArrayList<>();
    for (Tag tag : s.messages()) {
      if (tag.callId() == callId) {
        own.add(tag);
      }
    }
    for (int i = 0; i < own.size(); i++) {
      if (own.get(i).seq() != i) {
        violations.report(
            Invariant.SEQUENCE_BROKEN,
            record,
            "message " + i + " has sequence number " + own.get(i).seq() + ": " + own);
        break;
      }
    }

    Integer committed = sources.size() == 1 ? sources.first() : null;
    // 2b. The committed attempt's own close, as it reached the transport below the interceptor,
    // is the call's outcome: if it carries the server's stamp, the server's answer arrived whole,
    // and the application must get all of that attempt's messages and the server's status code.
    // Not checked when the application cancelled (cancel() or its Context), its own listener threw
    // (which cancels the call, as grpc-java's ClientCallImpl does), the circuit breaker threw (the
    // engine then ends the call with an INTERNAL naming it, even after commit), or the deadline had
    // passed before the close: then "cancel/deadline won the race" is a legitimate outcome.
    boolean raced =
        s.appCancelledBeforeClose()
            || s.listenerThrew()
            || record.breakerMisbehaved()
            || record.harnessCancelNanos() >= 0
            || (plan.hasDeadline() && s.closeNanos() >= s.deadlineFloorNanos() - DEADLINE_MARGIN_NANOS);
    if (committed != null && s.closes() > 0 && !raced) {
      AttemptTrace below = only(s.attempts(), committed);
      ServerAttempt server = onlyServer(s.serverAttempts(), committed);
      if (below != null && server != null && below.closedByServer()) {
        int got = 0;
        for (Tag tag : own) {
          if (tag.attempt() == committed) {
            got++;
          }
        }
        Code appCode = s.closeStatus().getCode();
        if (got != server.sent() || appCode != below.closeCode) {
          violations.report(
              Invariant.ANSWER_LOST,
              record,
              "committed attempt "
                  + committed
                  + ": the server sent "
                  + server.sent()
                  + " message(s) and closed "
                  + below.closeCode
                  + ", and that close reached the transport (onClose "
                  + below.closeCode
                  + " with the server's stamp below the interceptor, after "
                  + below.messages
                  + " message(s)); the application got "
                  + got
                  + " message(s) and onClose "
                  + appCode);
        }
      }
    }

    // 2c. An OK close means some attempt ended OK on the server: the application must have all
    // of that attempt's messages and nothing else.
    if (s.closeStatus() != null && s.closeStatus().isOk() && !s.appCancelledBeforeClose()) {
      boolean matched = false;
      List<String> okAttempts = new ArrayList<>();
      for (ServerAttempt a : s.serverAttempts()) {
        if (a.closeCode() != Code.OK) {
          continue;
        }
        okAttempts.add("attempt " + a.number + " sent " + a.sent());
        boolean allFromIt = true;
        for (Tag tag : own) {
          allFromIt &= tag.attempt() == a.number;
        }
        if (allFromIt && own.size() == a.sent() && foreign.isEmpty()) {
          matched = true;
        }
      }
      if (!matched) {
        violations.report(
            Invariant.OK_INCOMPLETE,
            record,
            "the application got OK with messages "
                + own
                + ", but the attempts that ended OK on the server are "
                + okAttempts);
      }
    }

    // ---- 3: no attempt where none may start.
    for (AttemptTrace t : s.attempts()) {
      if (s.closeSeq() >= 0 && t.startSeq > s.closeSeq()) {
        violations.report(
            Invariant.ATTEMPT_AFTER_CLOSE,
            record,
            "attempt " + t.number + " started (#" + t.startSeq + ") after the application's onClose (#"
                + s.closeSeq() + ")");
      }
    }
    if (s.attempts().size() > plan.policy().maxAttempts()) {
      violations.report(
          Invariant.ATTEMPT_LIMIT,
          record,
          s.attempts().size() + " attempts started, maxAttempts is " + plan.policy().maxAttempts());
    }
    RetryPolicy retry = plan.retryPolicy();
    if (s.firstResponseSeq() >= 0) {
      for (AttemptTrace t : s.attempts()) {
        if (t.startSeq <= s.firstResponseSeq()) {
          continue;
        }
        if (retry != null && replacedOnTimeout(retry, s, t)) {
          // A per-attempt timeout decides a replacement while the timed-out attempt may still
          // answer and win (the engine keeps it as a contender until it closes): the replacement
          // then straddles the commit as a hedge does; counted only.
          figures.count("retry", "replacements after a per-attempt timeout started just after commit (not checked)");
        } else if (retry != null) {
          // Sound for retry policies otherwise: attempts run one after another, and a new one is
          // decided only after the previous one closed. The committed attempt's headers precede
          // its close, so no decision can be pending at commit.
          violations.report(
              Invariant.ATTEMPT_AFTER_COMMIT,
              record,
              "attempt "
                  + t.number
                  + " started (#"
                  + t.startSeq
                  + ") after the application got its first response (#"
                  + s.firstResponseSeq()
                  + ")");
        } else {
          // Not checked for hedging: a hedge decided before the commit may reach the channel
          // just after it without any lock being held across the start; counted only.
          figures.count("hedging", "hedge starts just after commit (not checked)");
        }
      }
    }
    if (retry != null && !s.classifierThrew()) {
      checkNoRetryAfterFinalClose(record, s, retry);
    }
  }

  /**
   * Whether attempt {@code t}, started after the first response, may have been decided by the
   * per-attempt timeout of an attempt before it that was still open when the response came: the
   * engine cancelled one for its timeout before the first response, or one had been running
   * for (nearly) the timeout by then without having closed.
   */
  private static boolean replacedOnTimeout(RetryPolicy retry, Snapshot s, AttemptTrace t) {
    if (retry.perAttemptTimeout() == null) {
      return false;
    }
    long perAttempt = retry.perAttemptTimeout().toNanos();
    for (AttemptTrace u : s.attempts()) {
      if (u.number >= t.number || u.startSeq > s.firstResponseSeq()) {
        continue;
      }
      if (u.timeoutCancelSeq >= 0 && u.timeoutCancelSeq < s.firstResponseSeq()) {
        return true;
      }
      boolean openAtResponse = u.closeSeq < 0 || u.closeSeq > s.firstResponseSeq();
      if (openAtResponse
          && s.firstResponseNanos() >= u.startNanos + perAttempt - DEADLINE_MARGIN_NANOS) {
        return true;
      }
    }
    return false;
  }

  /**
   * 3c: no new attempt starts after an attempt's close that the policy does not retry was observed
   * below the interceptor. Sound only where the engine must have seen that close as the attempt's
   * outcome; so it is restricted to:
   *
   * <ul>
   *   <li>retry policies (hedging cannot be ordered: another hedge may have been decided before);
   *   <li>closes carrying the server's stamp, with the code the server scripted (not a cancel or
   *       deadline the client made up);
   *   <li>codes that the policy does not retry for this method, an OK, or a negative/garbled
   *       pushback (A6: "do not retry"); hints never make a code retryable;
   *   <li>closes the engine had received (the recorder's onClose into it had returned) before the
   *       attempt's per-attempt timer could possibly have fired: an engine may decide on a timeout
   *       (and start the next attempt) before it sees the close. The timer of attempt n is armed
   *       no earlier than LB(n): LB(0) is the application's start(); LB(n) = min(close of attempt
   *       n-1 as it reached the recorder, LB(n-1) + perAttemptTimeout); it fires no earlier than
   *       LB(n) + perAttemptTimeout;
   *   <li>calls where the classifier did not throw (what an engine does then is its choice).
   * </ul>
   *
   * The application's cancel, its Context and the call's deadline can only prevent attempts, so
   * they need no exclusion.
   */
  private void checkNoRetryAfterFinalClose(CallRecord record, Snapshot s, RetryPolicy retry) {
    Map<Integer, AttemptTrace> byNumber = new HashMap<>();
    for (AttemptTrace t : s.attempts()) {
      if (byNumber.put(t.number, t) != null || t.number < 0) {
        return; // Attempt numbers are not unique: nothing here can be trusted.
      }
    }
    long perAttempt =
        retry.perAttemptTimeout() == null ? 0 : retry.perAttemptTimeout().toNanos();
    long bound = s.appStartNanos();
    int max = byNumber.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1);
    for (int n = 0; n <= max; n++) {
      if (n > 0) {
        AttemptTrace previous = byNumber.get(n - 1);
        long viaTimer = bound + perAttempt;
        bound =
            perAttempt == 0 ? bound : previous != null && previous.closeSeq >= 0
                ? Math.min(previous.closeNanos, viaTimer)
                : viaTimer;
      }
      AttemptTrace t = byNumber.get(n);
      if (t == null || t.closeSeq < 0 || !t.closedByServer()) {
        continue;
      }
      // The engine has surely received the close once the recorder's onClose has returned.
      if (perAttempt > 0
          && (t.closeReturnNanos == 0
              || t.closeReturnNanos >= bound + perAttempt - TIMER_MARGIN_NANOS)) {
        continue;
      }
      String why = finalReason(record.plan, retry, t);
      if (why == null) {
        continue;
      }
      for (AttemptTrace later : s.attempts()) {
        if (later.startSeq > t.closeSeq) {
          violations.report(
              Invariant.ATTEMPT_AFTER_NON_RETRYABLE,
              record,
              "attempt "
                  + later.number
                  + " started (#"
                  + later.startSeq
                  + ") after attempt "
                  + n
                  + " closed (#"
                  + t.closeSeq
                  + ") with "
                  + why);
        }
      }
    }
  }

  /**
   * Invariants 8-10, for the newer features: the retry listener's events (8, LISTENER), the
   * circuit breaker's bookkeeping (9, BREAKER_BALANCE and BREAKER_REJECTED), and idempotency keys
   * (10, KEYS; keys shared by two calls are caught as the attempts arrive, in {@link
   * ServerRecorder}). Returns true, reporting nothing, when something may only be late (a report
   * to the breaker or the listener's CallClosed still missing) and {@code last} is false: the
   * caller looks again a little later with {@code last} true.
   */
  boolean checkExtras(CallRecord record, boolean last) {
    CallPlan plan = record.plan;
    Snapshot s = record.snapshot();
    CallRecord.ExtrasSnapshot x = record.extrasSnapshot();
    if (!s.apiFailures().isEmpty() || s.closes() == 0) {
      return false; // Already reported elsewhere; nothing here can be trusted.
    }
    if (!last && (missingListenerClose(plan, x) || x.breakerReports() < x.breakerGranted())) {
      return true;
    }
    checkKeys(record, plan, s);
    if (plan.extras().listener()) {
      checkListener(record, plan, s, x);
    }
    if (plan.extras().breaker() != CallPlan.BreakerKind.NONE) {
      checkBreaker(record, plan, s, x);
    }
    return false;
  }

  private static boolean missingListenerClose(CallPlan plan, CallRecord.ExtrasSnapshot x) {
    if (!plan.extras().listener() || x.listenerEventsDropped() > 0) {
      return false;
    }
    List<Object> events = x.listenerEvents();
    return events.isEmpty() || !(events.get(events.size() - 1) instanceof RetryListener.CallClosed);
  }

  private void checkKeys(CallRecord record, CallPlan plan, Snapshot s) {
    String first = null;
    for (ServerAttempt a : s.serverAttempts()) {
      if (!plan.policy().idempotencyKey()) {
        if (a.key != null) {
          violations.report(
              Invariant.KEYS,
              record,
              "attempt " + a.number + " has idempotency key " + a.key + ", but the policy has none");
          return;
        }
        continue;
      }
      if (a.key == null) {
        violations.report(
            Invariant.KEYS, record, "attempt " + a.number + " reached the server without a key");
        return;
      }
      if (first == null) {
        first = a.key;
      } else if (!first.equals(a.key)) {
        violations.report(
            Invariant.KEYS,
            record,
            "attempts of one call with different keys: " + first + " and " + a.key + " (attempt "
                + a.number + ")");
        return;
      }
    }
    if (first != null) {
      figures.count("idempotency keys", "calls with a key that reached a server");
    }
  }

  /**
   * What {@link RetryListener} promises for one call: events one at a time, in the order the call
   * went through them. So: AttemptStarted numbered 1, 2, 3... (the first of kind FIRST); each
   * started attempt ends exactly once, after it started; at most one CallCommitted, for a started
   * attempt; exactly one CallClosed, the last event, with the application's status code, as many
   * attempts as were started and as many hedges as started of kind HEDGE, for calls of one attempt
   * too. A listener that throws
   * (added before the recording one) changes nothing: the recording one still hears all this.
   */
  private void checkListener(
      CallRecord record, CallPlan plan, Snapshot s, CallRecord.ExtrasSnapshot x) {
    if (x.listenerEventsDropped() > 0) {
      figures.count("listener", "calls with too many events to check");
      return;
    }
    List<Object> events = x.listenerEvents();
    List<String> wrong = new ArrayList<>();
    if (x.listenerOverlap() != null) {
      wrong.add(x.listenerOverlap());
    }
    int started = 0;
    int hedges = 0;
    TreeSet<Integer> ended = new TreeSet<>();
    int commits = 0;
    RetryListener.CallClosed closed = null;
    for (int i = 0; i < events.size(); i++) {
      Object e = events.get(i);
      if (closed != null) {
        wrong.add("event " + e + " after CallClosed");
        break;
      }
      if (e instanceof RetryListener.AttemptStarted a) {
        started++;
        if (a.attemptNumber() != started) {
          wrong.add("AttemptStarted " + a.attemptNumber() + " where attempt " + started + " was due");
        }
        if ((a.kind() == RetryListener.AttemptKind.FIRST) != (started == 1)) {
          wrong.add("attempt " + a.attemptNumber() + " of kind " + a.kind());
        }
        if (a.kind() == RetryListener.AttemptKind.HEDGE) {
          hedges++;
        }
      } else if (e instanceof RetryListener.AttemptEnded a) {
        if (a.attemptNumber() < 1 || a.attemptNumber() > started) {
          wrong.add("AttemptEnded " + a.attemptNumber() + " with attempts 1.." + started + " started");
        } else if (!ended.add(a.attemptNumber())) {
          wrong.add("attempt " + a.attemptNumber() + " ended twice");
        }
      } else if (e instanceof RetryListener.CallCommitted c) {
        commits++;
        if (commits > 1) {
          wrong.add("a second CallCommitted: " + c);
        }
        if (c.attemptNumber() < 1 || c.attemptNumber() > started) {
          wrong.add("CallCommitted to attempt " + c.attemptNumber() + " with 1.." + started + " started");
        }
      } else if (e instanceof RetryListener.CallClosed c) {
        closed = c;
      }
    }
    if (closed == null) {
      wrong.add("no CallClosed");
    } else {
      if (closed.attempts() != started) {
        wrong.add("CallClosed says " + closed.attempts() + " attempts, " + started + " started");
      }
      if (closed.hedges() != hedges) {
        wrong.add("CallClosed says " + closed.hedges() + " hedges, " + hedges + " started as HEDGE");
      }
      if (s.closeStatus() != null && closed.status().getCode() != s.closeStatus().getCode()) {
        wrong.add(
            "CallClosed with " + closed.status().getCode() + ", the application's onClose with "
                + s.closeStatus().getCode());
      }
      for (int n = 1; n <= started; n++) {
        if (!ended.contains(n)) {
          wrong.add("attempt " + n + " started but never ended before CallClosed");
        }
      }
    }
    String description = s.closeStatus() == null ? null : s.closeStatus().getDescription();
    if (description != null && description.contains("RetryListener")) {
      wrong.add("the call's status names a listener: " + CallRecord.brief(s.closeStatus()));
    }
    if (!wrong.isEmpty()) {
      violations.report(Invariant.LISTENER, record, String.join("; ", wrong) + "; events " + events);
    }
  }

  /**
   * What {@link io.github.grpcretry.CircuitBreaker} promises, for calls of one attempt too:
   * every attempt is made on a permission, every permission granted gets exactly one report (a report that throws still
   * counts as made), and a call whose first permission is refused ends at once with UNAVAILABLE
   * ("grpc-retry: not sent, ...") without an attempt; one whose first permission throws ends with
   * the INTERNAL that names the breaker, without an attempt either.
   */
  private void checkBreaker(
      CallRecord record, CallPlan plan, Snapshot s, CallRecord.ExtrasSnapshot x) {
    if (x.breakerOverReported() != null) {
      violations.report(Invariant.BREAKER_BALANCE, record, "doubled: " + x.breakerOverReported());
    } else if (x.breakerReports() < x.breakerGranted()) {
      violations.report(
          Invariant.BREAKER_BALANCE,
          record,
          "lost: " + x.breakerGranted() + " permission(s) granted, " + x.breakerReports()
              + " report(s) made");
    }
    if (s.attempts().size() > x.breakerGranted()) {
      violations.report(
          Invariant.BREAKER_BALANCE,
          record,
          s.attempts().size() + " attempt(s) started below the interceptor on " + x.breakerGranted()
              + " permission(s)");
    }
    String first = x.firstPermission();
    if ("refused".equals(first) || "threw".equals(first)) {
      Code expected = "refused".equals(first) ? Code.UNAVAILABLE : Code.INTERNAL;
      Status status = s.closeStatus();
      String d = status == null ? null : status.getDescription();
      boolean described =
          d != null && ("refused".equals(first) ? d.startsWith("grpc-retry: not sent") : d.contains("CircuitBreaker"));
      if (status == null || status.getCode() != expected || !described
          || !s.attempts().isEmpty() || !s.serverAttempts().isEmpty()) {
        violations.report(
            Invariant.BREAKER_REJECTED,
            record,
            "the first permission " + first + "; the call ended " + CallRecord.brief(status)
                + " with " + s.attempts().size() + " attempt(s) below the interceptor and "
                + s.serverAttempts().size() + " on a server");
      }
      figures.count("breaker", "calls whose first permission " + first);
    }
  }

  /** Why a close ends the call under this policy, or null if it may be retried. */
  private static String finalReason(CallPlan plan, RetryPolicy policy, AttemptTrace t) {
    Code code = t.closeCode;
    if (code == Code.OK) {
      return "OK";
    }
    if (t.pushback != null && !validPushback(t.pushback)) {
      return code + " and pushback '" + t.pushback + "' (do not retry)";
    }
    boolean retryable =
        policy.retryableStatusCodes().contains(code)
            || (policy.idempotentRetryableStatusCodes().contains(code) && plan.safeToRepeat());
    return retryable ? null : code + ", which the policy does not retry for " + plan.method();
  }

  private static boolean validPushback(String value) {
    try {
      return Long.parseLong(value) >= 0;
    } catch (NumberFormatException e) {
      return false;
    }
  }

  private static AttemptTrace only(List<AttemptTrace> traces, int number) {
    AttemptTrace found = null;
    for (AttemptTrace t : traces) {
      if (t.number == number) {
        if (found != null) {
          return null;
        }
        found = t;
      }
    }
    return found;
  }

  private static ServerAttempt onlyServer(List<ServerAttempt> attempts, int number) {
    ServerAttempt found = null;
    for (ServerAttempt a : attempts) {
      if (a.number == number) {
        if (found != null) {
          return null;
        }
        found = a;
      }
    }
    return found;
  }
}
