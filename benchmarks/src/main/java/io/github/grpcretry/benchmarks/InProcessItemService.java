package io.github.grpcretry.benchmarks;

import io.github.grpcretry.demo.DemoItemService;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.TimeUnit;

/**
 * A {@link DemoItemService} on an in-process server that runs calls on the transport's thread,
 * and one client channel to it built by a {@link ChannelSetup}.
 *
 * <p>Started in a benchmark state's trial set-up and stopped in its tear-down; not thread-safe
 * itself, while its {@link #channel()} may be used from any number of threads.
 */
final class InProcessItemService {
  private static final long SHUTDOWN_SECONDS = 5;

  private final Server server;
  private final ManagedChannel managedChannel;
  private final Channel channel;

  private InProcessItemService(Server server, ManagedChannel managedChannel, Channel channel) {
    this.server = server;
    this.managedChannel = managedChannel;
    this.channel = channel;
  }

  /** Starts a server with a fresh {@link DemoItemService} and connects a channel of {@code setup}. */
  static InProcessItemService start(ChannelSetup setup) {
    String name = InProcessServerBuilder.generateName();
    Server server;
    try {
      server =
          InProcessServerBuilder.forName(name)
              .directExecutor()
              .addService(new DemoItemService())
              .build()
              .start();
    } catch (IOException e) {
      throw new UncheckedIOException("in-process server " + name + " failed to start", e);
    }
    ManagedChannel managedChannel = setup.newChannel(name);
    return new InProcessItemService(server, managedChannel, setup.intercept(managedChannel));
  }

  /** The channel for stubs, with the set-up's retry in place. */
  Channel channel() {
    return channel;
  }

  /**
   * Shuts the channel down, then the server, and waits for both.
   *
   * @throws IllegalStateException if either is still running after 5 s, which means a benchmark
   *     left a call open and its numbers are not to be trusted
   */
  void stop() throws InterruptedException {
    managedChannel.shutdown();
    boolean channelDone = managedChannel.awaitTermination(SHUTDOWN_SECONDS, TimeUnit.SECONDS);
    server.shutdown();
    boolean serverDone = server.awaitTermination(SHUTDOWN_SECONDS, TimeUnit.SECONDS);
    if (!channelDone || !serverDone) {
      managedChannel.shutdownNow();
      server.shutdownNow();
      throw new IllegalStateException(
          "in-process server or channel did not terminate within "
              + SHUTDOWN_SECONDS
              + " s (channel terminated: "
              + channelDone
              + ", server terminated: "
              + serverDone
              + "): a benchmark left a call open");
    }
  }
}
