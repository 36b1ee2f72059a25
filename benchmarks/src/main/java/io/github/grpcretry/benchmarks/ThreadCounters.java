package io.github.grpcretry.benchmarks;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * The JVM's counts for the current thread, from {@code com.sun.management.ThreadMXBean}: the bytes
 * it has allocated and the CPU time it has used, each where the JVM has it and it can be enabled.
 *
 * <p>Thread-safe: each thread reads its own counts.
 */
final class ThreadCounters {
  private final java.lang.management.ThreadMXBean threads;
  private final boolean bytesCounted;
  private final boolean cpuCounted;
  private final List<String> missing;

  private ThreadCounters(
      java.lang.management.ThreadMXBean threads,
      boolean bytesCounted,
      boolean cpuCounted,
      List<String> missing) {
    this.threads = threads;
    this.bytesCounted = bytesCounted;
    this.cpuCounted = cpuCounted;
    this.missing = List.copyOf(missing);
  }

  /** The counters of this JVM, each enabled if it is supported and was off. */
  static ThreadCounters ofThisJvm() {
    java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    List<String> missing = new ArrayList<>();
    boolean bytes = false;
    if (!(threads instanceof com.sun.management.ThreadMXBean)) {
      missing.add("B/op: this JVM's ThreadMXBean is not a com.sun.management.ThreadMXBean");
    } else {
      com.sun.management.ThreadMXBean bean = (com.sun.management.ThreadMXBean) threads;
      if (!bean.isThreadAllocatedMemorySupported()) {
        missing.add("B/op: this JVM does not count the bytes a thread allocates");
      } else {
        bytes = enable(bean::isThreadAllocatedMemoryEnabled, bean::setThreadAllocatedMemoryEnabled);
        if (!bytes) {
          missing.add("B/op: the count of the bytes a thread allocates could not be enabled");
        }
      }
    }
    boolean cpu = false;
    if (!threads.isCurrentThreadCpuTimeSupported()) {
      missing.add("CPU time: this JVM does not measure a thread's CPU time");
    } else {
      cpu = enable(threads::isThreadCpuTimeEnabled, threads::setThreadCpuTimeEnabled);
      if (!cpu) {
        missing.add("CPU time: the measurement of a thread's CPU time could not be enabled");
      }
    }
    return new ThreadCounters(threads, bytes, cpu, missing);
  }

  /** Whether {@link #allocatedBytes()} counts. */
  boolean bytesCounted() {
    return bytesCounted;
  }

  /** Whether {@link #cpuNanos()} counts. */
  boolean cpuCounted() {
    return cpuCounted;
  }

  /** What is not counted, and why; empty when everything is. */
  List<String> missing() {
    return missing;
  }

  /** Bytes the current thread has allocated since it started; 0 unless {@link #bytesCounted()}. */
  long allocatedBytes() {
    return bytesCounted
        ? ((com.sun.management.ThreadMXBean) threads).getCurrentThreadAllocatedBytes()
        : 0;
  }

  /** CPU time the current thread has used, in nanoseconds; 0 when not {@link #cpuCounted()}. */
  long cpuNanos() {
    return cpuCounted ? threads.getCurrentThreadCpuTime() : 0;
  }

  private static boolean enable(BooleanSupplier enabled, Consumer<Boolean> setEnabled) {
    if (enabled.getAsBoolean()) {
      return true;
    }
    try {
      setEnabled.accept(true);
    } catch (UnsupportedOperationException | SecurityException e) {
      return false;
    }
    return enabled.getAsBoolean();
  }
}
