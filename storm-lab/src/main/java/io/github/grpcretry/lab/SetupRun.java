package io.github.grpcretry.lab;

import io.github.grpcretry.BudgetStats;
import io.github.grpcretry.RetryBudget;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Channel;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Runs one set-up in one scenario against fresh servers: starts the servers (one, or the replicas
 * of the scenario), opens one channel per client, sends the open-loop load while the fault
 * schedule plays, waits for the servers to finish their queues, and computes the results.
 *
 * <p>Not thread-safe; the lab runs set-ups one after another so that they do not share the CPU.
 */
final class SetupRun {
  private SetupRun() {}

  /** Runs {@code setup} in {@code scenario} with the options' duration and clients. */
  static SetupResult run(
      Scenario scenario, Setup setup, LabOptions options, OpenLoopLoad.Progress progress)
      throws IOException, InterruptedException {
    List<FaultSchedule> faults = new ArrayList<>();
    for (int r = 0; r < scenario.replicas(); r++) {
      faults.add(FaultSchedule.of(options, scenario, r));
    }
    return run(scenario, setup, options, faults, options.durationMillis(), progress);
  }

  /**
   * Sends the options' load to a healthy server through grpc-retry for {@code millis} and forgets
   * the results: the first measured set-up then runs on compiled code, like the others.
   */
  static void warmUp(LabOptions options, long millis) throws IOException, InterruptedException {
    if (millis > 0) {
      run(
          Scenario.TRANSIENT,
          Setup.GRPC_RETRY,
          options,
          List.of(FaultSchedule.alwaysHealthy()),
          millis,
          (elapsed, sent, succeeded) -> {});
    }
  }

  private static SetupResult run(
      Scenario scenario,
      Setup setup,
      LabOptions options,
      List<FaultSchedule> faults,
      long durationMillis,
      OpenLoopLoad.Progress progress)
      throws IOException, InterruptedException {
    long bucketNanos = TimeUnit.MILLISECONDS.toNanos(Recovery.BUCKET_MILLIS);
    long durationNanos = TimeUnit.MILLISECONDS.toNanos(durationMillis);
    long deadlineNanos = TimeUnit.MILLISECONDS.toNanos(options.deadlineMillis());
    int buckets = (int) (durationNanos / bucketNanos);
    List<LabServer> servers = new ArrayList<>();
    List<Setup.Connection> clients = new ArrayList<>();
    try {
      List<Integer> ports = new ArrayList<>();
      for (FaultSchedule f : faults) {
        LabServer server = LabServer.start(options, f, bucketNanos, buckets);
        servers.add(server);
        ports.add(server.port());
      }
      Duration perAttemptTimeout = Duration.ofMillis(options.perAttemptTimeoutMillis());
      List<Channel> channels = new ArrayList<>();
      for (int c = 0; c < options.clients(); c++) {
        Setup.Connection connection = setup.connect(ports, perAttemptTimeout);
        clients.add(connection);
        channels.add(connection.channel());
        // A few calls before time zero open the connections (round_robin: one per replica), so
        // that the first measured calls do not pay for the TCP and HTTP/2 handshakes. The servers
        // do not count them.
        ItemServiceGrpc.ItemServiceBlockingStub stub =
            ItemServiceGrpc.newBlockingStub(connection.channel());
        for (int r = 0; r < ports.size(); r++) {
          stub.withDeadlineAfter(10, TimeUnit.SECONDS)
              .withWaitForReady()
              .getItem(GetItemRequest.newBuilder().setId("connect").build());
        }
      }
      LabClock clock = LabClock.startingNow();
      for (LabServer server : servers) {
        server.startMeasuring(clock);
      }
      CallLog calls =
          OpenLoopLoad.run(
              channels, clock, options.rate(), durationNanos, deadlineNanos, progress);
      // Queued work whose callers have all gone still runs; wait for it so the counts are final.
      for (int r = 0; r < servers.size(); r++) {
        long queueNanos =
            (long)
                ((options.queue() + options.workers())
                    * (double) TimeUnit.MILLISECONDS.toNanos(options.serviceMillis())
                    * faults.get(r).worstSlowdown()
                    / options.workers());
        servers.get(r).awaitIdle(queueNanos + TimeUnit.SECONDS.toNanos(2));
      }
      List<LabServer.ServerCounts> counts = new ArrayList<>();
      for (LabServer server : servers) {
        counts.add(server.counts());
      }
      return SetupResult.of(
          scenario,
          setup,
          options,
          calls,
          LabServer.ServerCounts.sum(counts),
          buckets,
          budgets(clients));
    } finally {
      for (Setup.Connection c : clients) {
        c.close();
      }
      for (LabServer s : servers) {
        s.close();
      }
    }
  }

  /** The clients' budgets added up, or null if the set-up has none to show. */
  private static @Nullable BudgetStats budgets(List<Setup.Connection> clients) {
    double available = 0;
    double max = 0;
    long granted = 0;
    long refused = 0;
    boolean any = false;
    for (Setup.Connection c : clients) {
      RetryBudget budget = c.budget();
      if (budget != null) {
        BudgetStats s = budget.stats();
        available += s.availableTokens();
        max += s.maxTokens();
        granted += s.granted();
        refused += s.refused();
        any = true;
      }
    }
    return any ? new BudgetStats(available, max, granted, refused) : null;
  }
}
