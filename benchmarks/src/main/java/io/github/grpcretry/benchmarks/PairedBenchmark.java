package io.github.grpcretry.benchmarks;

import io.grpc.StatusRuntimeException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The paired mode of the benchmarks: every set-up measured side by side in one JVM, in short
 * interleaved slices, so that the drift of a shared machine weighs on all of them alike. Run by
 * {@code benchmarks/paired.sh}; what it prints and how to read it: {@code docs/BENCHMARKS.md}.
 *
 * <p>It starts a server and a channel for every set-up, warms them all up in interleaved slices,
 * then runs rounds: in each, every set-up runs its scenario's operation again and again for one
 * slice of fixed length, in an order drawn from the seeded random, while the measuring thread
 * counts the operations it completes, the CPU time it uses and the bytes it allocates. Each
 * set-up's throughput is then compared with its transport's bare channel's in the same round, and
 * the table reports the median and quartiles of those per-round ratios.
 *
 * <p>Everything runs on the thread that calls {@link #run}: the measuring thread. Not a JMH
 * benchmark, and never run by the build except in the smoke test's tiny configuration.
 */
public final class PairedBenchmark {
  private static final int PROGRESS_EVERY_ROUNDS = 10;

  private PairedBenchmark() {}

  /** Runs with the command line's options and exits with {@link #execute}'s status. */
  public static void main(String[] args) {
    int status = execute(args, System.out, System.err);
    if (status != 0) {
      System.exit(status);
    }
  }

  /**
   * Runs the command: the report goes to {@code out}, progress and errors to {@code err}.
   *
   * @return 0 after a run or {@code --help}, 2 for bad options (with the reason on {@code err}),
   *     1 if the run failed
   */
  static int execute(String[] args, PrintStream out, PrintStream err) {
    if (PairedOptions.asksForHelp(args)) {
      out.print(PairedOptions.usage());
      return 0;
    }
    PairedOptions options;
    try {
      options = PairedOptions.parse(args);
    } catch (IllegalArgumentException e) {
      err.println("paired: " + e.getMessage());
      err.println("paired: run with --help to see the options.");
      return 2;
    }
    try {
      run(options, out, err);
      return 0;
    } catch (StatusRuntimeException | IllegalStateException e) {
      // A call failed, a slice completed nothing, or a server did not stop: no figure to trust.
      err.println("paired: the run failed: " + e);
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      err.println("paired: interrupted");
      return 1;
    }
  }

  /**
   * Measures the set-ups of {@code options}, prints the report to {@code out} and progress to
   * {@code progress}, and returns what was measured. Every server and channel is stopped before it
   * returns, whether the run succeeded or not.
   *
   * @throws StatusRuntimeException if a call failed
   * @throws IllegalStateException if a slice completed no operation, or a server or channel did
   *     not stop
   */
  static PairedResult run(PairedOptions options, PrintStream out, PrintStream progress)
      throws InterruptedException {
    MachineFacts facts = MachineFacts.ofThisMachine();
    ThreadCounters counters = ThreadCounters.ofThisJvm();
    for (String missing : counters.missing()) {
      progress.println("paired: not measured: " + missing);
    }
    String loadBefore = MachineFacts.loadAverage();
    List<PairedSetup> setups = options.setups();
    List<ItemServiceConnection> connections = new ArrayList<>();
    PairedResult result =
        new PairedResult(
            setups, options.rounds(), counters.bytesCounted(), counters.cpuCounted());
    try {
      List<Runnable> operations = new ArrayList<>();
      for (PairedSetup setup : setups) {
        ItemServiceConnection connection =
            ItemServiceConnection.start(setup.transport(), setup.channelSetup());
        connections.add(connection);
        operations.add(options.scenario().operation(connection.channel()));
      }
      measure(options, operations, counters, result, progress);
    } catch (Throwable failure) {
      stopAll(connections, failure);
      throw failure;
    }
    stopAll(connections, null);
    String loadAfter = MachineFacts.loadAverage();
    out.print(PairedReport.markdown(options, facts, loadBefore, loadAfter, result));
    return result;
  }

  private static void measure(
      PairedOptions options,
      List<Runnable> operations,
      ThreadCounters counters,
      PairedResult result,
      PrintStream progress) {
    long sliceNanos = TimeUnit.MILLISECONDS.toNanos(options.sliceMillis());
    Random random = new Random(options.seed());
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < operations.size(); i++) {
      order.add(i);
    }
    progress.printf(
        "paired: %s, %d set-ups, seed %d: warm-up of %d rounds%n",
        options.scenario().cliName(), operations.size(), options.seed(), options.warmupRounds());
    for (int round = 0; round < options.warmupRounds(); round++) {
      Collections.shuffle(order, random);
      for (int i : order) {
        runSlice(operations.get(i), sliceNanos, counters, null, i, round);
      }
    }
    for (int round = 0; round < options.rounds(); round++) {
      if (round % PROGRESS_EVERY_ROUNDS == 0) {
        progress.printf("paired: round %d of %d%n", round + 1, options.rounds());
      }
      Collections.shuffle(order, random);
      for (int i : order) {
        runSlice(operations.get(i), sliceNanos, counters, result, i, round);
      }
    }
  }

  /**
   * Runs {@code operation} until {@code sliceNanos} have passed, then records in {@code result},
   * unless it is null (warm-up), how many it completed, in how long, and the CPU time the thread
   * used and the bytes it allocated. The clock is read after every operation: an operation is a
   * whole gRPC call, which takes far longer than reading it.
   */
  private static void runSlice(
      Runnable operation,
      long sliceNanos,
      ThreadCounters counters,
      @Nullable PairedResult result,
      int setup,
      int round) {
    long bytesBefore = counters.allocatedBytes();
    long cpuBefore = counters.cpuNanos();
    long start = System.nanoTime();
    long deadline = start + sliceNanos;
    long operations = 0;
    long now;
    do {
      operation.run();
      operations++;
      now = System.nanoTime();
    } while (now - deadline < 0);
    long cpu = counters.cpuNanos() - cpuBefore;
    long bytes = counters.allocatedBytes() - bytesBefore;
    if (result != null) {
      result.record(setup, round, operations, now - start, cpu, bytes);
    }
  }

  /**
   * Stops every connection. After an earlier {@code failure}, what goes wrong here is added to it
   * as suppressed, for the caller to throw; otherwise the first problem is thrown, with the others
   * suppressed.
   */
  private static void stopAll(List<ItemServiceConnection> connections, @Nullable Throwable failure)
      throws InterruptedException {
    Throwable first = failure;
    for (ItemServiceConnection connection : connections) {
      try {
        connection.stop();
      } catch (IllegalStateException | InterruptedException e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (failure == null && first instanceof IllegalStateException) {
      throw (IllegalStateException) first;
    }
    if (failure == null && first instanceof InterruptedException) {
      throw (InterruptedException) first;
    }
  }
}
