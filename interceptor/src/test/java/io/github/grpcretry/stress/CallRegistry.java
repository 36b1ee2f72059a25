package io.github.grpcretry.stress;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The records of live calls by call id, found by the recorders from the id in the headers, and the
 * plans of the most recently retired calls, to name a call that shows signs of life after it was
 * checked.
 *
 * <p>Thread-safe.
 */
final class CallRegistry {
  private static final int RETIRED_KEPT = 4096;

  private final ConcurrentHashMap<Long, CallRecord> live = new ConcurrentHashMap<>();
  private final LinkedHashMap<Long, CallPlan> retired =
      new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, CallPlan> eldest) {
          return size() > RETIRED_KEPT;
        }
      };

  void register(CallRecord record) {
    live.put(record.plan.callId(), record);
  }

  @Nullable CallRecord live(long callId) {
    return live.get(callId);
  }

  void retire(CallRecord record) {
    live.remove(record.plan.callId());
    synchronized (retired) {
      retired.put(record.plan.callId(), record.plan);
    }
  }

  /** What is known of a call that is no longer live. */
  String describeRetired(long callId) {
    CallPlan plan;
    synchronized (retired) {
      plan = retired.get(callId);
    }
    return plan == null
        ? "call id " + callId + " (no longer known)"
        : plan.describe() + "  (the call had already been checked and retired)\n";
  }

  List<CallRecord> liveRecords() {
    return new ArrayList<>(live.values());
  }

  int liveCount() {
    return live.size();
  }
}
