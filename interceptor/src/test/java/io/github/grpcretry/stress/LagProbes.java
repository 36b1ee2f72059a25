package io.github.grpcretry.stress;

import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Probes of how late work runs right now, fed into a {@link LagMeter} on every watchdog tick: a
 * no-op task through each harness executor (the client threads, the timers, the interceptor's
 * scheduler), and a plain unary call, without the retry interceptor, through each channel. A probe
 * that is still outstanding counts with its age. The watchdog's own wake-up lag alone is not
 * enough: on a loaded two-core machine a thread that mostly sleeps is scheduled promptly while busy
 * pools and transport threads fall hundreds of milliseconds behind, and a call whose close is
 * delayed by that says nothing about the engine.
 *
 * <p>Thread-safe: {@link #tick} runs on the watchdog thread; completions come from anywhere.
 */
final class LagProbes {
  private static final long RPC_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

  private final LagMeter meter;
  private final List<Probe> probes = new ArrayList<>();

  LagProbes(LagMeter meter, Map<String, Executor> executors, Map<String, Channel> channels) {
    this.meter = meter;
    for (Map.Entry<String, Executor> e : executors.entrySet()) {
      probes.add(new TaskProbe(e.getKey(), e.getValue()));
    }
    for (Map.Entry<String, Channel> e : channels.entrySet()) {
      probes.add(new RpcProbe(e.getKey(), e.getValue()));
    }
  }

  void tick(long now) {
    for (Probe p : probes) {
      p.tick(now);
    }
  }

  private abstract class Probe {
    final String name;
    private volatile long since = -1;
    private volatile long lastDone;

    Probe(String name) {
      this.name = name;
    }

    void tick(long now) {
      long s = since;
      if (s >= 0) {
        meter.record(now, now - s);
        return;
      }
      if (now - lastDone < interval()) {
        return;
      }
      since = now;
      send(now);
    }

    void done(long sentAt) {
      long now = System.nanoTime();
      meter.record(now, now - sentAt);
      lastDone = now;
      since = -1;
    }

    long interval() {
      return 0;
    }

    abstract void send(long now);
  }

  private final class TaskProbe extends Probe {
    private final Executor executor;

    TaskProbe(String name, Executor executor) {
      super(name);
      this.executor = executor;
    }

    @Override
    void send(long now) {
      try {
        executor.execute(() -> done(now));
      } catch (RejectedExecutionException e) {
        // Shutting down: the probe stays outstanding, which no longer matters.
      }
    }
  }

  private final class RpcProbe extends Probe {
    private final Channel channel;

    RpcProbe(String name, Channel channel) {
      super(name);
      this.channel = channel;
    }

    @Override
    long interval() {
      return RPC_INTERVAL_NANOS;
    }

    @Override
    void send(long now) {
      ClientCall<GetItemRequest, Item> call =
          channel.newCall(
              ItemServiceGrpc.getGetItemMethod(),
              CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS));
      call.start(
          new ClientCall.Listener<>() {
            @Override
            public void onClose(Status status, Metadata trailers) {
              done(now);
            }
          },
          new Metadata());
      call.request(1);
      call.sendMessage(GetItemRequest.newBuilder().setId("lag-probe").build());
      call.halfClose();
    }
  }
}
