package io.github.grpcretry.benchmarks;

import java.lang.management.ManagementFactory;
import org.jspecify.annotations.Nullable;

/**
 * The JVM's count of the bytes that the current thread has allocated, from {@code
 * com.sun.management.ThreadMXBean}, where the JVM has one and it can be enabled.
 *
 * <p>Thread-safe: each thread reads its own count.
 */
final class ThreadAllocation {
  private final com.sun.management.@Nullable ThreadMXBean bean;
  private final String unavailableReason;

  private ThreadAllocation(com.sun.management.@Nullable ThreadMXBean bean, String unavailableReason) {
    this.bean = bean;
    this.unavailableReason = unavailableReason;
  }

  /** The counter of this JVM, enabled if it is supported and was off. */
  static ThreadAllocation ofThisJvm() {
    java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    if (!(threads instanceof com.sun.management.ThreadMXBean)) {
      return new ThreadAllocation(
          null, "this JVM's ThreadMXBean is not a com.sun.management.ThreadMXBean");
    }
    com.sun.management.ThreadMXBean bean = (com.sun.management.ThreadMXBean) threads;
    if (!bean.isThreadAllocatedMemorySupported()) {
      return new ThreadAllocation(null, "this JVM does not count the bytes a thread allocates");
    }
    if (!bean.isThreadAllocatedMemoryEnabled()) {
      try {
        bean.setThreadAllocatedMemoryEnabled(true);
      } catch (UnsupportedOperationException | SecurityException e) {
        return new ThreadAllocation(null, "the count of allocated bytes could not be enabled: " + e);
      }
    }
    return new ThreadAllocation(bean, "");
  }

  /** Whether {@link #currentThreadBytes()} counts. */
  boolean available() {
    return bean != null;
  }

  /** Why the count is not available; empty when it is. */
  String unavailableReason() {
    return unavailableReason;
  }

  /** Bytes the current thread has allocated since it started; 0 when not {@link #available()}. */
  long currentThreadBytes() {
    return bean == null ? 0 : bean.getCurrentThreadAllocatedBytes();
  }
}
