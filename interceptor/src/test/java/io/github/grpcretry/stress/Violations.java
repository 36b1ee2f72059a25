package io.github.grpcretry.stress;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The broken invariants of a run: a count per invariant, and for the first few of each the call's
 * record, whose full description (plan, outcome, event log) is rendered at the end of the run when
 * the record is complete. Records of other violating calls are not kept, so memory stays bounded on
 * long runs.
 *
 * <p>Thread-safe.
 */
final class Violations {
  private final String runHeadline;
  private final int samplesPerInvariant;
  private final int printedLimit;
  private final PrintStream out;
  private final EnumMap<Invariant, Long> counts = new EnumMap<>(Invariant.class);
  private final List<Sample> samples = new ArrayList<>();
  private int printed;

  Violations(String runHeadline, int samplesPerInvariant, int printedLimit, PrintStream out) {
    this.runHeadline = runHeadline;
    this.samplesPerInvariant = samplesPerInvariant;
    this.printedLimit = printedLimit;
    this.out = out;
  }

  private record Sample(Invariant invariant, @Nullable CallRecord record, String detail) {}

  void report(Invariant invariant, @Nullable CallRecord record, String detail) {
    boolean print;
    synchronized (this) {
      long n = counts.merge(invariant, 1L, Long::sum);
      if (n <= samplesPerInvariant) {
        samples.add(new Sample(invariant, record, detail));
        if (record != null) {
          record.markSampled();
        }
      }
      print = printed++ < printedLimit;
    }
    if (print) {
      out.println(
          "VIOLATION "
              + invariant.label()
              + " ["
              + runHeadline
              + "] "
              + (record == null ? "" : record.plan.headline() + ": ")
              + detail);
    }
  }

  synchronized long total() {
    long sum = 0;
    for (long n : counts.values()) {
      sum += n;
    }
    return sum;
  }

  synchronized Map<Invariant, Long> counts() {
    return new EnumMap<>(counts);
  }

  synchronized long count(Invariant invariant) {
    return counts.getOrDefault(invariant, 0L);
  }

  /** One line per invariant, broken ones marked. */
  synchronized String summary() {
    StringBuilder sb = new StringBuilder();
    for (Invariant inv : Invariant.values()) {
      long n = counts.getOrDefault(inv, 0L);
      sb.append(String.format("  %s %-28s %8d  %s%n", n > 0 ? "!!" : "ok", inv.label(), n, inv.rule));
    }
    return sb.toString();
  }

  /** The full descriptions of up to {@code limit} sampled violations, the first of each kind first. */
  String describeSamples(int limit) {
    List<Sample> copy;
    synchronized (this) {
      copy = new ArrayList<>(samples);
    }
    // First one of every invariant, then the rest in arrival order.
    List<Sample> ordered = new ArrayList<>();
    EnumMap<Invariant, Boolean> seen = new EnumMap<>(Invariant.class);
    for (Sample s : copy) {
      if (seen.putIfAbsent(s.invariant, true) == null) {
        ordered.add(s);
      }
    }
    for (Sample s : copy) {
      if (!ordered.contains(s)) {
        ordered.add(s);
      }
    }
    StringBuilder sb = new StringBuilder();
    int n = 0;
    for (Sample s : ordered) {
      if (n++ == limit) {
        sb.append("... and more; see the test's output file\n");
        break;
      }
      sb.append("---- ").append(s.invariant.label()).append(": ").append(s.detail).append('\n');
      if (s.record != null) {
        sb.append(s.record.describe());
      }
    }
    return sb.toString();
  }
}
