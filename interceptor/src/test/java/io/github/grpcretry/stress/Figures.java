package io.github.grpcretry.stress;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of a run, grouped by topic ("transport x method", "final status", "attempts per call",
 * ...), printed at the end.
 *
 * <p>Thread-safe.
 */
final class Figures {
  private final ConcurrentHashMap<String, ConcurrentHashMap<String, LongAdder>> groups =
      new ConcurrentHashMap<>();

  void count(String group, String key) {
    add(group, key, 1);
  }

  void add(String group, String key, long amount) {
    groups
        .computeIfAbsent(group, g -> new ConcurrentHashMap<>())
        .computeIfAbsent(key, k -> new LongAdder())
        .add(amount);
  }

  long get(String group, String key) {
    Map<String, LongAdder> g = groups.get(group);
    LongAdder a = g == null ? null : g.get(key);
    return a == null ? 0 : a.sum();
  }

  String render() {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, ConcurrentHashMap<String, LongAdder>> g : new TreeMap<>(groups).entrySet()) {
      sb.append("  ").append(g.getKey()).append(":\n");
      Map<String, LongAdder> sorted = new TreeMap<>(Figures::compareKeys);
      sorted.putAll(g.getValue());
      StringBuilder line = new StringBuilder("     ");
      for (Map.Entry<String, LongAdder> e : sorted.entrySet()) {
        String item = " " + e.getKey() + "=" + e.getValue().sum();
        if (line.length() + item.length() > 110) {
          sb.append(line).append('\n');
          line = new StringBuilder("     ");
        }
        line.append(item);
      }
      sb.append(line).append('\n');
    }
    return sb.toString();
  }

  /** Numbers in numeric order, everything else alphabetically. */
  private static int compareKeys(String a, String b) {
    try {
      return Long.compare(Long.parseLong(a), Long.parseLong(b));
    } catch (NumberFormatException e) {
      return a.compareTo(b);
    }
  }
}
