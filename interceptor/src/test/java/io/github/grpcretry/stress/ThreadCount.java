package io.github.grpcretry.stress;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** The JVM's live threads at one moment: their count and who they are. */
record ThreadCount(int count, Set<Long> ids) {

  static ThreadCount now() {
    Set<Long> ids = new HashSet<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      ids.add(t.getId());
    }
    return new ThreadCount(ManagementFactory.getThreadMXBean().getThreadCount(), ids);
  }

  /** The names of live threads that were not there at {@code before}. */
  static List<String> newSince(ThreadCount before) {
    List<String> names = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (!before.ids.contains(t.getId())) {
        names.add(t.getName() + (t.isDaemon() ? " (daemon)" : "") + " " + t.getState());
      }
    }
    return names;
  }
}
