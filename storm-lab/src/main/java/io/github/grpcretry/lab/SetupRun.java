package io.github.grpcretry.lab;

import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.RetryBudgetRegistry;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Runs one set-up against a fresh server: starts the server, opens the set-up's channel, sends the
 * open-loop load while the fault schedule plays, waits for the server to finish its queue, and
 * computes the results.
 *
 * <p>Not thread-safe; the lab runs set-ups one after another so that they do not share the CPU.
 */
final class SetupRun {
  private SetupRun() {}

  /** Runs {@code setup} with the options' fault schedule and duration. */
  static SetupResult run(Setup setup, LabOptions options) throws IOException, InterruptedException {
    return run(setup, options, FaultSchedule.of(options), options.durationMillis());
  }

  /**
   * Sends the options' load to a healthy server through grpc-retry for {@code millis} and forgets
   * the results: the first measured set-up then runs on compiled code, like the others.
   */
  static void warmUp(LabOptions options, long millis) throws IOException, InterruptedException {
    if (millis > 0) {
      run(Setup.GRPC_RETRY, options, FaultSchedule.alwaysHealthy(), millis);
    }
  }

  private static SetupResult run(
      Setup setup, LabOptions options, FaultSchedule faults, long durationMillis)
      throws IOException, InterruptedException {
    long bucketNanos = TimeUnit.MILLISECONDS.toNanos(Recovery.BUCKET_MILLIS);
    long durationNanos = TimeUnit.MILLISECONDS.toNanos(durationMillis);
    long deadlineNanos = TimeUnit.MILLISECONDS.toNanos(options.deadlineMillis());
    int buckets = (int) (durationNanos / bucketNanos);
    RetryBudgetRegistry registry = RetryBudgetRegistry.newBuilder().build();
    try (LabServer server = LabServer.start(options, faults, bucketNanos, buckets);
        Setup.Connection connection =
            setup.connect(
                server.port(), Duration.ofMillis(options.perAttemptTimeoutMillis()), registry)) {
      // One call before time zero opens the connection, so that the first measured calls do not
      // pay for the TCP and HTTP/2 handshakes. The server does not count it.
      ItemServiceGrpc.newBlockingStub(connection.channel())
          .withDeadlineAfter(10, TimeUnit.SECONDS)
          .getItem(GetItemRequest.newBuilder().setId("connect").build());
      LabClock clock = LabClock.startingNow();
      server.startMeasuring(clock);
      CallLog calls =
          OpenLoopLoad.run(connection.channel(), clock, options.rate(), durationNanos, deadlineNanos);
      // Queued work whose callers have all gone still runs; wait for it so the counts are final.
      long queueNanos =
          (long)
              ((options.queue() + options.workers())
                  * (double) TimeUnit.MILLISECONDS.toNanos(options.serviceMillis())
                  * options.slowdown()
                  / options.workers());
      server.awaitIdle(queueNanos + TimeUnit.SECONDS.toNanos(2));
      RetryBudget budget = connection.budget();
      return SetupResult.of(
          setup,
          options,
          calls,
          server.counts(),
          buckets,
          budget == null ? null : budget.stats());
    }
  }
}
