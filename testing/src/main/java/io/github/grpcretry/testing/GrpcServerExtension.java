package io.github.grpcretry.testing;

import static io.github.grpcretry.testing.Arguments.checkNonNegative;
import static io.github.grpcretry.testing.Arguments.checkNotNull;
import static io.github.grpcretry.testing.Arguments.saturatedAdd;
import static io.github.grpcretry.testing.Arguments.saturatedNanos;

import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A JUnit 5 extension that gives each test its own in-process server and channels, and always shuts
 * them down after the test.
 *
 * <pre>{@code
 * @RegisterExtension
 * final GrpcServerExtension grpc = GrpcServerExtension.create().addService(new DemoItemService());
 *
 * @Test
 * void getsAnItem() {
 *   ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(grpc.channel());
 *   ...
 * }
 * }</pre>
 *
 * <p>Add services and interceptors first; the server starts, under a fresh unique name, at the
 * first {@link #channel()} or {@link #newChannel} call of a test. After each test, every channel
 * and server it created or that was {@linkplain #register(ManagedChannel) registered} is shut down
 * and awaited for up to {@linkplain #terminationTimeout(Duration) a bounded time}; resources still
 * running then are forced down with {@code shutdownNow()}, and the test fails with an {@link
 * AssertionError} naming them, since a resource that does not stop usually means a call was left
 * open. Services and interceptors are configuration: with a per-class test lifecycle they stay
 * registered for later tests, while servers and channels are always per test.
 *
 * <p>This class is thread-safe: its methods may be called from any thread, including gRPC
 * callbacks.
 */
public final class GrpcServerExtension implements BeforeEachCallback, AfterEachCallback {
  private static final Duration DEFAULT_TERMINATION_TIMEOUT = Duration.ofSeconds(5);

  private final List<ServerServiceDefinition> services = new ArrayList<>(); // guarded by this
  private final List<ServerInterceptor> interceptors = new ArrayList<>(); // guarded by this
  private boolean directExecutor = true; // guarded by this
  private Duration terminationTimeout = DEFAULT_TERMINATION_TIMEOUT; // guarded by this

  // Per test; guarded by this.
  private @Nullable String serverName;
  private @Nullable Server server;
  private @Nullable ManagedChannel channel;
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final List<Server> servers = new ArrayList<>();

  private GrpcServerExtension() {}

  /** Returns an extension with no services, a direct-executor server and a 5 s shutdown bound. */
  public static GrpcServerExtension create() {
    return new GrpcServerExtension();
  }

  /**
   * Adds a service to the server.
   *
   * @throws IllegalStateException if the server of the current test has started
   */
  public GrpcServerExtension addService(BindableService service) {
    checkNotNull(service, "service");
    return addService(service.bindService());
  }

  /**
   * Adds a service definition to the server.
   *
   * @throws IllegalStateException if the server of the current test has started
   */
  public synchronized GrpcServerExtension addService(ServerServiceDefinition service) {
    checkNotNull(service, "service");
    checkNotStarted("addService");
    services.add(service);
    return this;
  }

  /**
   * Adds an interceptor applied to every service; the first one added is the outermost, so it sees
   * a call first, and the last one added runs right before the service.
   *
   * @throws IllegalStateException if the server of the current test has started
   */
  public synchronized GrpcServerExtension addServerInterceptor(ServerInterceptor interceptor) {
    checkNotNull(interceptor, "interceptor");
    checkNotStarted("addServerInterceptor");
    interceptors.add(interceptor);
    return this;
  }

  /**
   * Sets whether the server runs service code on the transport thread (the default, true) or on its
   * own executor; channels never use a direct executor unless a test asks {@link #newChannel} for
   * one.
   *
   * @throws IllegalStateException if the server of the current test has started
   */
  public synchronized GrpcServerExtension directExecutor(boolean directExecutor) {
    checkNotStarted("directExecutor");
    this.directExecutor = directExecutor;
    return this;
  }

  /**
   * Sets how long, in real time, the cleanup after each test waits for all resources together to
   * terminate before forcing them down and failing the test; 5 seconds by default.
   *
   * @throws IllegalArgumentException if {@code timeout} is negative
   */
  public synchronized GrpcServerExtension terminationTimeout(Duration timeout) {
    this.terminationTimeout = checkNonNegative(timeout, "timeout");
    return this;
  }

  /** Returns the name of the current test's in-process server, chosen on first use. */
  public synchronized String serverName() {
    if (serverName == null) {
      serverName = InProcessServerBuilder.generateName();
    }
    return serverName;
  }

  /**
   * Returns the current test's channel to its in-process server, starting the server and creating
   * the channel on the first call of each test.
   *
   * @throws UncheckedIOException if the server fails to start
   */
  public synchronized ManagedChannel channel() {
    if (channel == null) {
      channel = newChannel(builder -> {});
    }
    return channel;
  }

  /**
   * Returns a new channel to the current test's server, built after {@code customizer} has
   * configured the builder, and shut down after the test like the others; starts the server if
   * needed.
   *
   * @throws UncheckedIOException if the server fails to start
   */
  public synchronized ManagedChannel newChannel(Consumer<InProcessChannelBuilder> customizer) {
    checkNotNull(customizer, "customizer");
    startServer();
    InProcessChannelBuilder builder = InProcessChannelBuilder.forName(serverName());
    customizer.accept(builder);
    return register(builder.build());
  }

  /** Registers another channel, such as a Netty one, to be shut down after the test. */
  public synchronized <T extends ManagedChannel> T register(T channel) {
    checkNotNull(channel, "channel");
    if (!channels.contains(channel)) {
      channels.add(channel);
    }
    return channel;
  }

  /** Registers another server, such as a Netty one, to be shut down after the test. */
  public synchronized <T extends Server> T register(T server) {
    checkNotNull(server, "server");
    if (!servers.contains(server)) {
      servers.add(server);
    }
    return server;
  }

  /**
   * Does nothing: the server and channels start on first use, so a test that needs none pays
   * nothing.
   */
  @Override
  public void beforeEach(ExtensionContext context) {}

  /**
   * Shuts down every channel, then every server, of the test that just ran, and fails the test if
   * any did not terminate in time.
   *
   * @throws AssertionError naming the resources that had to be forced down
   */
  @Override
  public void afterEach(ExtensionContext context) {
    List<Resource> resources = new ArrayList<>();
    Duration timeout;
    synchronized (this) {
      channels.forEach(c -> resources.add(new ChannelResource(c)));
      servers.forEach(s -> resources.add(new ServerResource(s)));
      channels.clear();
      servers.clear();
      channel = null;
      server = null;
      serverName = null;
      timeout = terminationTimeout;
    }
    release(resources, timeout, context.getDisplayName());
  }

  private static void release(List<Resource> resources, Duration timeout, String testName) {
    List<String> problems = new ArrayList<>();
    for (Resource resource : resources) {
      try {
        resource.shutdown();
      } catch (RuntimeException e) {
        problems.add(resource + " threw on shutdown(): " + e);
      }
    }
    long deadline = saturatedAdd(System.nanoTime(), saturatedNanos(timeout));
    boolean interrupted = false;
    for (Resource resource : resources) {
      try {
        if (!interrupted && resource.awaitTermination(Math.max(0, deadline - System.nanoTime()))) {
          continue;
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
      resource.shutdownNow();
      problems.add(resource + " did not terminate");
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (!problems.isEmpty()) {
      throw new AssertionError(
          "GrpcServerExtension could not shut down cleanly after "
              + testName
              + (interrupted ? " (interrupted while waiting)" : "")
              + " within "
              + timeout
              + "; the resources were forced down with shutdownNow(). A call left open (no"
              + " deadline, never cancelled) usually causes this: "
              + problems);
    }
  }

  private void checkNotStarted(String method) {
    if (server != null) {
      throw new IllegalStateException(
          method
              + " must be called before the server starts; it started at this test's first"
              + " channel() or newChannel() call");
    }
  }

  private void startServer() {
    if (server != null) {
      return;
    }
    InProcessServerBuilder builder = InProcessServerBuilder.forName(serverName());
    if (directExecutor) {
      builder.directExecutor();
    }
    for (ServerServiceDefinition service : services) {
      builder.addService(ServerInterceptors.interceptForward(service, interceptors));
    }
    Server started;
    try {
      started = builder.build().start();
    } catch (IOException e) {
      throw new UncheckedIOException("in-process server " + serverName() + " failed to start", e);
    }
    server = register(started);
  }

  /** The lifecycle methods that channels and servers share but declare separately. */
  private abstract static class Resource {
    abstract void shutdown();

    abstract void shutdownNow();

    abstract boolean awaitTermination(long nanos) throws InterruptedException;
  }

  private static final class ChannelResource extends Resource {
    private final ManagedChannel channel;

    ChannelResource(ManagedChannel channel) {
      this.channel = channel;
    }

    @Override
    void shutdown() {
      channel.shutdown();
    }

    @Override
    void shutdownNow() {
      channel.shutdownNow();
    }

    @Override
    boolean awaitTermination(long nanos) throws InterruptedException {
      return channel.awaitTermination(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public String toString() {
      return "channel " + channel;
    }
  }

  private static final class ServerResource extends Resource {
    private final Server server;

    ServerResource(Server server) {
      this.server = server;
    }

    @Override
    void shutdown() {
      server.shutdown();
    }

    @Override
    void shutdownNow() {
      server.shutdownNow();
    }

    @Override
    boolean awaitTermination(long nanos) throws InterruptedException {
      return server.awaitTermination(nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public String toString() {
      return "server " + server;
    }
  }
}
