package io.github.grpcretry.stress;

import io.github.grpcretry.CircuitBreaker;
import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Everything a run starts: two servers (in-process, Netty on loopback) with the scripted service
 * and the server recorder, three channels (in-process with and without {@code directExecutor()},
 * Netty plaintext; all with {@code disableRetry()}), one retry interceptor with misbehaving user
 * code and its own scheduler, the attempt recorder below it, and the harness's threads. {@link
 * #close()} shuts all of it down with bounded waits, and is safe after a partial start.
 *
 * <p>Thread-safe after {@link #start()}.
 */
final class StressEnvironment implements AutoCloseable {
  final StressConfig config;
  final EventClock clock = new EventClock();
  final CallRegistry registry = new CallRegistry();
  final Attribution attribution = new Attribution();
  final Figures figures = new Figures();
  final Violations violations;
  final PrintStream out;

  final ExecutorService clientExecutor = Executors.newFixedThreadPool(4, threads("stress-client"));
  final ScheduledExecutorService timer = scheduled(2, "stress-timer");
  final ScheduledExecutorService serverTimer = scheduled(1, "stress-server-timer");
  final ScheduledExecutorService checker = scheduled(1, "stress-checker");
  final AttributingScheduler retryScheduler;
  final ServerRecorder serverRecorder;
  final RetryInterceptor retry;
  /** The same, with listeners (a misbehaving one, then the recording one). */
  final RetryInterceptor retryListened;
  /** The same, with one circuit breaker per call ({@link StressBreaker}). */
  final RetryInterceptor retryBroken;
  /** The same, with both. */
  final RetryInterceptor retryListenedBroken;
  /** The breakers the calls of kind CLASSIC and ADAPTIVE share, tuned to open now and then. */
  final CircuitBreaker sharedClassic;
  final CircuitBreaker sharedAdaptive;

  private final List<Server> servers = new ArrayList<>();
  private final List<ManagedChannel> managedChannels = new ArrayList<>();
  private final EnumMap<Transport, ManagedChannel> rawChannels = new EnumMap<>(Transport.class);
  private final EnumMap<Transport, Channel> channels = new EnumMap<>(Transport.class);
  private final EnumMap<Transport, Channel> recorded = new EnumMap<>(Transport.class);

  StressEnvironment(StressConfig config, PrintStream out) {
    this.config = config;
    this.out = out;
    this.violations = new Violations(config.headline(), config.samplesPerInvariant, 200, out);
    this.retryScheduler = new AttributingScheduler(2, threads("stress-retry-timer"), attribution);
    this.serverRecorder = new ServerRecorder(clock, registry, figures, violations);
    RetryInterceptor.Builder builder =
        RetryInterceptor.newBuilder()
            // Every call brings its own policy through RetryInterceptor.POLICY.
            .defaultPolicy(RetryPolicy.noRetry())
            .classifier(new MisbehavingClassifier(attribution, figures))
            .retryBudget(new MisbehavingBudget(attribution, figures))
            .scheduler(retryScheduler);
    this.retry = builder.build();
    // Opens when most of the last 40 attempts failed, for a few ms: often enough to refuse some
    // calls and retries, rarely enough that most calls still get through.
    this.sharedClassic =
        CircuitBreaker.classic()
            .slidingWindowCalls(40)
            .minimumCalls(20)
            .failureRateThreshold(0.7)
            .openDuration(Duration.ofMillis(3))
            .halfOpenProbes(3)
            .build();
    this.sharedAdaptive =
        CircuitBreaker.adaptiveThrottling().k(1.1).window(Duration.ofMillis(200)).buckets(4).build();
    CircuitBreaker.Factory perCall =
        (target, ticker, random) ->
            new StressBreaker(
                CallTarget.callId(target), registry, figures, sharedClassic, sharedAdaptive);
    MisbehavingListener misbehaving = new MisbehavingListener(registry, figures);
    RecordingListener recording = new RecordingListener(registry, figures);
    this.retryBroken = builder.circuitBreakers(perCall).build();
    this.retryListenedBroken = builder.addListener(misbehaving).addListener(recording).build();
    this.retryListened =
        RetryInterceptor.newBuilder()
            .defaultPolicy(RetryPolicy.noRetry())
            .classifier(new MisbehavingClassifier(attribution, figures))
            .retryBudget(new MisbehavingBudget(attribution, figures))
            .scheduler(retryScheduler)
            .addListener(misbehaving)
            .addListener(recording)
            .build();
  }

  void start() throws IOException {
    ScriptedItemService service = new ScriptedItemService(serverTimer, this::harnessError);
    String name = "stress-" + config.seed + "-" + System.nanoTime();
    servers.add(
        InProcessServerBuilder.forName(name)
            .directExecutor()
            .addService(ServerInterceptors.intercept(service.bindService(), serverRecorder))
            .build()
            .start());
    Server netty =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(ServerInterceptors.intercept(service.bindService(), serverRecorder))
            .build()
            .start();
    servers.add(netty);
    AttemptRecorder recorder =
        new AttemptRecorder(clock, registry, attribution, violations, figures);
    add(Transport.IN_PROCESS_DIRECT, InProcessChannelBuilder.forName(name).directExecutor().disableRetry().build(), recorder);
    add(Transport.IN_PROCESS_POOLED, InProcessChannelBuilder.forName(name).disableRetry().build(), recorder);
    add(
        Transport.NETTY,
        NettyChannelBuilder.forAddress("127.0.0.1", netty.getPort()).usePlaintext().disableRetry().build(),
        recorder);
  }

  private void add(Transport transport, ManagedChannel channel, AttemptRecorder recorder) {
    managedChannels.add(channel);
    rawChannels.put(transport, channel);
    // The recorder is below the retry interceptor: the last interceptor given is called first.
    channels.put(transport, ClientInterceptors.intercept(channel, recorder, retry));
    recorded.put(transport, ClientInterceptors.intercept(channel, recorder));
  }

  /** What the run's interceptors hold for replay together. */
  long bufferedBytes() {
    return retry.bufferedBytes()
        + retryListened.bufferedBytes()
        + retryBroken.bufferedBytes()
        + retryListenedBroken.bufferedBytes();
  }

  /**
   * The channel of a call: the shared one, or for a call with a listener or a breaker, the
   * recorded channel under a target of the call's own ({@link CallTarget}) and the interceptor
   * with those features.
   */
  Channel channelFor(CallPlan plan) {
    if (!plan.needsOwnInterceptor()) {
      return channels.get(plan.transport());
    }
    boolean breaker = plan.extras().breaker() != CallPlan.BreakerKind.NONE;
    RetryInterceptor interceptor =
        plan.extras().listener()
            ? (breaker ? retryListenedBroken : retryListened)
            : retryBroken;
    return ClientInterceptors.intercept(
        new CallTarget(recorded.get(plan.transport()), plan.callId()), interceptor);
  }

  /**
   * Plain and retried calls through every channel before the run, unchecked: the transports
   * connect, and the JIT compiles the hot paths before deadlines of tens of milliseconds count.
   */
  void warmUp() {
    GetItemRequest request = GetItemRequest.newBuilder().setId("warm-up").build();
    for (Transport t : Transport.values()) {
      Channel raw = rawChannels.get(t);
      for (int i = 0; i < WARM_UP_CALLS; i++) {
        ItemServiceGrpc.newBlockingStub(raw).withDeadlineAfter(10, TimeUnit.SECONDS).getItem(request);
        ItemServiceGrpc.newBlockingStub(channel(t))
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .withOption(RetryInterceptor.POLICY, WARM_UP_POLICY)
            .getItem(request);
      }
    }
  }

  private static final int WARM_UP_CALLS = 200;
  private static final RetryPolicy WARM_UP_POLICY =
      RetryPolicy.newBuilder()
          .maxAttempts(3)
          .perAttemptTimeout(Duration.ofSeconds(5))
          .build();

  /** The harness's executors, for the watchdog's lag probes. */
  Map<String, Executor> probedExecutors() {
    Map<String, Executor> m = new LinkedHashMap<>();
    m.put("client", clientExecutor);
    m.put("timer", timer);
    m.put("server-timer", serverTimer);
    m.put("retry-scheduler", retryScheduler);
    return m;
  }

  /** The channels without the interceptors, for lag probes and warm-up. */
  Map<String, Channel> rawChannels() {
    Map<String, Channel> m = new LinkedHashMap<>();
    for (Map.Entry<Transport, ManagedChannel> e : rawChannels.entrySet()) {
      m.put(e.getKey().toString(), e.getValue());
    }
    return m;
  }

  Channel channel(Transport transport) {
    return channels.get(transport);
  }

  /** Runs {@code task} on the harness timer after {@code micros}; dropped once shut down. */
  void later(Runnable task, long micros) {
    try {
      timer.schedule(task, micros, TimeUnit.MICROSECONDS);
    } catch (RejectedExecutionException e) {
      // The run is shutting down.
    }
  }

  void harnessError(Throwable t) {
    StringWriter trace = new StringWriter();
    t.printStackTrace(new PrintWriter(trace));
    violations.report(Invariant.HARNESS, null, "harness code threw: " + trace);
  }

  @Override
  public void close() {
    for (ManagedChannel c : managedChannels) {
      c.shutdownNow();
    }
    for (Server s : servers) {
      s.shutdownNow();
    }
    try {
      for (ManagedChannel c : managedChannels) {
        if (!c.awaitTermination(5, TimeUnit.SECONDS)) {
          out.println("channel did not terminate within 5 s: " + c);
        }
      }
      for (Server s : servers) {
        if (!s.awaitTermination(5, TimeUnit.SECONDS)) {
          out.println("server did not terminate within 5 s: " + s);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (ExecutorService e :
        List.of(clientExecutor, timer, serverTimer, checker, retryScheduler)) {
      e.shutdownNow();
    }
    try {
      for (ExecutorService e :
          List.of(clientExecutor, timer, serverTimer, checker, retryScheduler)) {
        if (!e.awaitTermination(5, TimeUnit.SECONDS)) {
          out.println("executor did not terminate within 5 s: " + e);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static ScheduledExecutorService scheduled(int threads, String name) {
    ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(threads, threads(name));
    executor.setRemoveOnCancelPolicy(true);
    return executor;
  }

  static ThreadFactory threads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
