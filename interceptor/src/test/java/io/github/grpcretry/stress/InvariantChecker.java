package io.github.grpcretry.stress;

import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.stress.CallRecord.AttemptTrace;
import io.github.grpcretry.stress.CallRecord.Snapshot;
import io.github.grpcretry.stress.StressHeaders.Tag;
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
    // (which cancels the call, as grpc-java's ClientCallImpl does), or the call's deadline had
    // passed before the close: then "cancel/deadline won the race" is a legitimate outcome.
    boolean raced =
        s.appCancelledBeforeClose()
            || s.listenerThrew()
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
        if (retry != null) {
          // Sound for retry policies: attempts run one after another, and a new one is decided
          // only after the previous one closed or timed out (which ends it: its responses are then
          // dropped). The committed attempt's headers precede its close, so no decision can be
          // pending at commit.
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
            || (policy.idempotentRetryableStatusCodes().contains(code) && plan.method().safeToRepeat());
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
