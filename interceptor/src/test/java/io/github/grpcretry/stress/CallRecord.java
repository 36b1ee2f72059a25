package io.github.grpcretry.stress;

import io.github.grpcretry.stress.StressHeaders.Tag;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * Everything observed about one call while it lives: the application's callbacks, the attempts
 * seen below the interceptor, the attempts seen by the server, the client's actions, and a bounded
 * log of all of them in the global {@link EventClock} order.
 *
 * <p>A record lives from the call's start until it is checked, a little after its close; only
 * records named by a violation are kept longer, so a long run holds a bounded number of them.
 *
 * <p>Thread-safe: every method synchronizes on the record; nothing calls out while holding it.
 */
final class CallRecord {
  private static final int MAX_EVENTS = 400;

  final CallPlan plan;
  private final EventClock clock;
  private final ArrayList<Event> events = new ArrayList<>();
  private int droppedEvents;
  final AtomicBoolean slotReleased = new AtomicBoolean();

  // Below the interceptor, one per attempt started on the channel.
  private final List<AttemptTrace> attempts = new ArrayList<>();
  // On the server.
  private final List<ServerAttempt> serverAttempts = new ArrayList<>();

  // The application's side.
  private long appStartSeq = -1;
  private long appStartNanos;
  private long deadlineAtNanos = Long.MAX_VALUE;
  private long deadlineFloorNanos = Long.MAX_VALUE;
  private long lastDriveNanos;
  private long headersSeq = -1;
  private int headersAttempt = -1;
  private final List<Tag> messages = new ArrayList<>();
  private final List<String> untaggedMessages = new ArrayList<>();
  private long firstResponseSeq = -1;
  private long firstResponseNanos;
  private int closes;
  private long closeSeq = -1;
  private long closeNanos;
  private @Nullable Status closeStatus;
  private int closeAttempt = -1;
  private long cancelSeq = -1;
  private long contextCancelSeq = -1;
  private boolean listenerThrew;
  private int classifierCalls;
  private boolean classifierThrew;
  private int budgetCalls;
  private boolean budgetMisbehaved;
  private final List<String> apiFailures = new ArrayList<>();

  // The retry listener and the circuit breaker (the call's interceptor may have neither).
  private final List<Object> listenerEvents = new ArrayList<>();
  private int listenerEventsDropped;
  private int listenerInside;
  private @Nullable String listenerOverlap;
  private int breakerAsked;
  private int breakerGranted;
  private int breakerRefused;
  private int breakerThrew;
  private int breakerReports;
  private @Nullable String firstPermission;
  private @Nullable String breakerOverReported;
  private boolean breakerMisbehaved;

  // The watchdog's view.
  private boolean lateReported;
  private boolean hungReported;
  private long harnessCancelNanos = -1;
  private boolean abandoned;
  private boolean retired;
  private boolean sampled;
  private boolean compacted;

  CallRecord(CallPlan plan, EventClock clock) {
    this.plan = plan;
    this.clock = clock;
  }

  /** One line of the event log. */
  record Event(long seq, long nanos, String text) {}

  /** An attempt as the recorder below the interceptor saw it. */
  static final class AttemptTrace {
    final int number;
    final long startSeq;
    final long startNanos;
    long headersSeq = -1;
    int headersTag = -1;
    int messages;
    long closeSeq = -1;
    long closeNanos;
    /** When the attempt's onClose, passed on to the interceptor, returned. */
    long closeReturnNanos;
    Status.@Nullable Code closeCode;
    /** The attempt named by the server's stamp in the trailers; -1 if the close is not the server's. */
    int closeTag = -1;
    @Nullable String pushback;
    boolean engineCancelled;
    /** When the engine cancelled it for its per-attempt timeout, or -1. */
    long timeoutCancelSeq = -1;

    AttemptTrace(int number, long startSeq, long startNanos) {
      this.number = number;
      this.startSeq = startSeq;
      this.startNanos = startNanos;
    }

    boolean closedByServer() {
      return closeTag == number;
    }
  }

  // --------------------------------------------------------------------------------------------
  // Log.

  synchronized long event(String text) {
    long seq = clock.next();
    add(seq, text);
    return seq;
  }

  synchronized void event(long seq, String text) {
    add(seq, text);
  }

  private void add(long seq, String text) {
    if (events.size() < MAX_EVENTS) {
      events.add(new Event(seq, clock.nanoTime(), text));
    } else {
      droppedEvents++;
    }
  }

  // --------------------------------------------------------------------------------------------
  // Below the interceptor.

  synchronized AttemptTrace attemptStarted(int number, long seq, String detail) {
    AttemptTrace trace = new AttemptTrace(number, seq, clock.nanoTime());
    attempts.add(trace);
    add(seq, "below: attempt " + number + " start" + detail);
    return trace;
  }

  synchronized void attemptHeaders(AttemptTrace trace, long seq, int tag) {
    trace.headersSeq = seq;
    trace.headersTag = tag;
    add(seq, "below: attempt " + trace.number + " headers (server stamp " + tag + ")");
  }

  synchronized void attemptMessage(AttemptTrace trace, long seq, @Nullable Tag tag) {
    trace.messages++;
    add(seq, "below: attempt " + trace.number + " message " + tag);
  }

  synchronized void attemptClosed(
      AttemptTrace trace, long seq, Status status, int tag, @Nullable String pushback) {
    trace.closeSeq = seq;
    trace.closeNanos = clock.nanoTime();
    trace.closeCode = status.getCode();
    trace.closeTag = tag;
    trace.pushback = pushback;
    add(
        seq,
        "below: attempt "
            + trace.number
            + " onClose "
            + brief(status)
            + (tag >= 0 ? " (server stamp " + tag + ")" : " (not from the server)")
            + (pushback != null ? " pushback='" + pushback + "'" : ""));
  }

  synchronized void attemptCloseReturned(AttemptTrace trace) {
    trace.closeReturnNanos = clock.nanoTime();
  }

  synchronized void attemptCancelled(AttemptTrace trace, long seq, @Nullable String message) {
    trace.engineCancelled = true;
    if (message != null && message.contains("per-attempt timeout") && trace.timeoutCancelSeq < 0) {
      trace.timeoutCancelSeq = seq;
    }
    add(seq, "below: engine cancels attempt " + trace.number + " (" + message + ")");
  }

  synchronized void serverAttempt(ServerAttempt attempt) {
    serverAttempts.add(attempt);
  }

  // --------------------------------------------------------------------------------------------
  // The application.

  synchronized void appStarting(long seq) {
    appStartSeq = seq;
    appStartNanos = clock.nanoTime();
    lastDriveNanos = appStartNanos;
    add(seq, "app: start()");
  }

  /**
   * After start() returned. The call's real deadline lies between {@code before} (taken before
   * the deadline was created) plus its duration and now plus its duration: the first bounds races
   * with the deadline from below, the second is the deadline the watchdog holds the call to.
   */
  synchronized void appStarted(long before) {
    long now = clock.nanoTime();
    if (plan.hasDeadline()) {
      deadlineAtNanos = now + plan.deadlineMillis() * 1_000_000L;
      deadlineFloorNanos = before + plan.deadlineMillis() * 1_000_000L;
    }
    lastDriveNanos = now;
  }

  synchronized void drove(String what) {
    lastDriveNanos = clock.nanoTime();
    add(clock.next(), "app: " + what);
  }

  synchronized void appHeaders(long seq, int tag) {
    if (headersSeq < 0) {
      headersSeq = seq;
      headersAttempt = tag;
    }
    if (firstResponseSeq < 0) {
      firstResponseSeq = seq;
      firstResponseNanos = clock.nanoTime();
    }
    add(seq, "app: onHeaders (server stamp " + tag + ")");
  }

  /** Returns the 1-based number of this message. */
  synchronized int appMessage(long seq, Object message) {
    Tag tag = StressHeaders.tagOf(message);
    if (tag == null) {
      untaggedMessages.add(String.valueOf(message));
    } else {
      messages.add(tag);
    }
    if (firstResponseSeq < 0) {
      firstResponseSeq = seq;
      firstResponseNanos = clock.nanoTime();
    }
    add(seq, "app: onMessage " + tag);
    return messages.size() + untaggedMessages.size();
  }

  synchronized void appReady(long seq) {
    add(seq, "app: onReady");
  }

  /** Returns how many closes the application has now seen. */
  synchronized int appClose(long seq, Status status, int tag) {
    closes++;
    if (closes == 1) {
      closeSeq = seq;
      closeNanos = clock.nanoTime();
      closeStatus = status;
      closeAttempt = tag;
    }
    add(seq, "app: onClose " + brief(status) + (tag >= 0 ? " (server stamp " + tag + ")" : ""));
    return closes;
  }

  synchronized void appCancel(long seq) {
    if (cancelSeq < 0) {
      cancelSeq = seq;
    }
    lastDriveNanos = clock.nanoTime();
    add(seq, "app: cancel()");
  }

  synchronized void contextCancel(long seq, String what) {
    if (contextCancelSeq < 0) {
      contextCancelSeq = seq;
    }
    add(seq, "app: " + what);
  }

  synchronized void listenerThrew(long seq) {
    listenerThrew = true;
    add(seq, "app: onMessage throws (scripted)");
  }

  synchronized void apiFailure(String method, Throwable t) {
    apiFailures.add(method + ": " + t);
    add(clock.next(), "app: " + method + " threw " + t);
  }

  // --------------------------------------------------------------------------------------------
  // User code inside the interceptor.

  /** Returns the 1-based number of this classification for the call. */
  synchronized int classifierCalled() {
    return ++classifierCalls;
  }

  synchronized void classifierThrew() {
    classifierThrew = true;
    add(clock.next(), "user code: the classifier throws (scripted)");
  }

  synchronized int budgetCalled() {
    return ++budgetCalls;
  }

  synchronized void budgetMisbehaved(String what) {
    budgetMisbehaved = true;
    add(clock.next(), "user code: the budget " + what + " (scripted)");
  }

  // --------------------------------------------------------------------------------------------
  // The retry listener and the circuit breaker.

  private static final int MAX_LISTENER_EVENTS = 64;

  /** A listener event for this call begins; returns false if another one is still running. */
  synchronized boolean listenerEnter(Object event) {
    boolean alone = listenerInside++ == 0;
    if (!alone && listenerOverlap == null) {
      listenerOverlap = "event " + event + " while another event of the call was being delivered";
    }
    if (listenerEvents.size() < MAX_LISTENER_EVENTS) {
      listenerEvents.add(event);
    } else {
      listenerEventsDropped++;
    }
    add(clock.next(), "listener: " + event);
    return alone;
  }

  synchronized void listenerExit() {
    listenerInside--;
  }

  /** The n-th permission asked for this call (1-based). */
  synchronized int breakerAsked() {
    return ++breakerAsked;
  }

  synchronized void breakerAnswered(int n, @Nullable Boolean granted) {
    String what = granted == null ? "threw" : granted ? "granted" : "refused";
    if (n == 1) {
      firstPermission = what;
    }
    if (granted == null) {
      breakerThrew++;
    } else if (granted) {
      breakerGranted++;
    } else {
      breakerRefused++;
    }
    add(clock.next(), "user code: breaker permission " + n + " " + what);
  }

  /** The n-th report for this call (1-based); notes a report beyond the permissions granted. */
  synchronized int breakerReported(String what) {
    int n = ++breakerReports;
    if (n > breakerGranted && breakerOverReported == null) {
      breakerOverReported =
          "report " + n + " (" + what + ") with only " + breakerGranted + " permission(s) granted";
    }
    add(clock.next(), "user code: breaker report " + n + ": " + what);
    return n;
  }

  /** The breaker threw (from a permission or a report) for this call. */
  synchronized void breakerThrows(String what) {
    breakerMisbehaved = true;
    add(clock.next(), "user code: the breaker throws from " + what + " (scripted)");
  }

  synchronized boolean breakerMisbehaved() {
    return breakerMisbehaved;
  }

  /** What the listener and the breaker saw of this call. */
  record ExtrasSnapshot(
      List<Object> listenerEvents,
      int listenerEventsDropped,
      @Nullable String listenerOverlap,
      int breakerAsked,
      int breakerGranted,
      int breakerRefused,
      int breakerThrew,
      int breakerReports,
      @Nullable String firstPermission,
      @Nullable String breakerOverReported) {}

  synchronized ExtrasSnapshot extrasSnapshot() {
    return new ExtrasSnapshot(
        new ArrayList<>(listenerEvents),
        listenerEventsDropped,
        listenerOverlap,
        breakerAsked,
        breakerGranted,
        breakerRefused,
        breakerThrew,
        breakerReports,
        firstPermission,
        breakerOverReported);
  }

  // --------------------------------------------------------------------------------------------
  // The watchdog and the checker.

  synchronized boolean isClosed() {
    return closes > 0;
  }

  synchronized long deadlineAtNanos() {
    return deadlineAtNanos;
  }

  synchronized long lastDriveNanos() {
    return lastDriveNanos;
  }

  synchronized boolean started() {
    return appStartSeq >= 0;
  }

  /** Marks the call late once; returns whether this was the first time. */
  synchronized boolean markLate() {
    if (lateReported) {
      return false;
    }
    lateReported = true;
    return true;
  }

  synchronized boolean markHung() {
    if (hungReported) {
      return false;
    }
    hungReported = true;
    return true;
  }

  synchronized void harnessCancelled() {
    harnessCancelNanos = clock.nanoTime();
    add(clock.next(), "harness: cancels the call");
  }

  synchronized long harnessCancelNanos() {
    return harnessCancelNanos;
  }

  synchronized boolean abandon() {
    if (abandoned) {
      return false;
    }
    abandoned = true;
    add(clock.next(), "harness: gives up waiting for onClose");
    return true;
  }

  synchronized boolean retire() {
    if (retired) {
      return false;
    }
    retired = true;
    return true;
  }

  synchronized boolean isRetired() {
    return retired;
  }

  /** A violation keeps this record for its full description: never compact it. */
  synchronized void markSampled() {
    sampled = true;
  }

  /**
   * Drops the event log of a retired call that no violation named and that has nothing left
   * running on a server, so that a long run holds only the logs it may still print.
   */
  synchronized void compact() {
    if (sampled) {
      return;
    }
    for (ServerAttempt a : serverAttempts) {
      if (!a.hasEnded()) {
        return;
      }
    }
    events.clear();
    events.trimToSize();
    compacted = true;
  }

  /** A consistent copy of what the checker needs. */
  synchronized Snapshot snapshot() {
    List<AttemptTrace> a = new ArrayList<>(attempts.size());
    for (AttemptTrace t : attempts) {
      AttemptTrace c = new AttemptTrace(t.number, t.startSeq, t.startNanos);
      c.headersSeq = t.headersSeq;
      c.headersTag = t.headersTag;
      c.messages = t.messages;
      c.closeSeq = t.closeSeq;
      c.closeNanos = t.closeNanos;
      c.closeReturnNanos = t.closeReturnNanos;
      c.closeCode = t.closeCode;
      c.closeTag = t.closeTag;
      c.pushback = t.pushback;
      c.engineCancelled = t.engineCancelled;
      c.timeoutCancelSeq = t.timeoutCancelSeq;
      a.add(c);
    }
    return new Snapshot(
        a,
        new ArrayList<>(serverAttempts),
        appStartSeq,
        appStartNanos,
        deadlineAtNanos,
        deadlineFloorNanos,
        headersSeq,
        headersAttempt,
        new ArrayList<>(messages),
        new ArrayList<>(untaggedMessages),
        firstResponseSeq,
        firstResponseNanos,
        closes,
        closeSeq,
        closeNanos,
        closeStatus,
        closeAttempt,
        cancelSeq,
        contextCancelSeq,
        listenerThrew,
        classifierThrew,
        budgetMisbehaved,
        new ArrayList<>(apiFailures));
  }

  record Snapshot(
      List<AttemptTrace> attempts,
      List<ServerAttempt> serverAttempts,
      long appStartSeq,
      long appStartNanos,
      long deadlineAtNanos,
      long deadlineFloorNanos,
      long headersSeq,
      int headersAttempt,
      List<Tag> messages,
      List<String> untaggedMessages,
      long firstResponseSeq,
      long firstResponseNanos,
      int closes,
      long closeSeq,
      long closeNanos,
      @Nullable Status closeStatus,
      int closeAttempt,
      long cancelSeq,
      long contextCancelSeq,
      boolean listenerThrew,
      boolean classifierThrew,
      boolean budgetMisbehaved,
      List<String> apiFailures) {

    /** Whether the application cancelled (cancel() or its Context) before the close reached it. */
    boolean appCancelledBeforeClose() {
      long close = closeSeq < 0 ? Long.MAX_VALUE : closeSeq;
      return (cancelSeq >= 0 && cancelSeq < close)
          || (contextCancelSeq >= 0 && contextCancelSeq < close);
    }
  }

  /** The full description: the plan, the outcome and the event log in global order. */
  synchronized String describe() {
    StringBuilder sb = new StringBuilder(plan.describe());
    sb.append("  outcome:   ");
    if (closes == 0) {
      sb.append("no onClose");
    } else {
      sb.append(brief(closeStatus));
      if (closes > 1) {
        sb.append(" (").append(closes).append(" onClose)");
      }
    }
    sb.append("; ").append(attempts.size()).append(" attempt(s) below the interceptor, ");
    sb.append(serverAttempts.size()).append(" on the server; app got ").append(messages.size());
    sb.append(" message(s) ").append(messages).append('\n');
    for (ServerAttempt s : serverAttempts) {
      sb.append("  ").append(s).append('\n');
    }
    sb.append("  events (#global order, time since run start):\n");
    if (compacted) {
      sb.append("    (the log was dropped when the call was checked; events since then:)\n");
    }
    List<Event> sorted = new ArrayList<>(events);
    sorted.sort(Comparator.comparingLong(Event::seq));
    for (Event e : sorted) {
      sb.append("    #").append(e.seq()).append(' ').append(clock.format(e.nanos()));
      sb.append(' ').append(e.text()).append('\n');
    }
    if (droppedEvents > 0) {
      sb.append("    (").append(droppedEvents).append(" later events not kept)\n");
    }

    return sb.toString();
  }

  static String brief(@Nullable Status status) {
    if (status == null) {
      return "null";
    }
    String d = status.getDescription();
    if (d != null && d.length() > 200) {
      d = d.substring(0, 200) + "...";
    }
    return status.getCode() + (d == null ? "" : " \"" + d + "\"");
  }
}
