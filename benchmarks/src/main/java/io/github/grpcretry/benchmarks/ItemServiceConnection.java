package io.github.grpcretry.benchmarks;

import io.github.grpcretry.demo.DemoItemService;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.TimeUnit;

/**
 * A {@link DemoItemService} on a server of a {@link Transport}, and one client channel to it built
 * by a {@link ChannelSetup}.
 *
 * <p>Started in a benchmark's set-up and stopped in its tear-down; not thread-safe itself, while
 * its {@link #channel()} may be used from any number of threads.
 */
final class ItemServiceConnection {
  private static final long SHUTDOWN_SECONDS = 5;

  private final Server server;
  private final ManagedChannel managedChannel;
  private final Channel channel;

  private ItemServiceConnection(Server server, ManagedChannel managedChannel, Channel channel) {
    this.server = server;
    this.managedChannel = managedChannel;
    this.channel = channel;
  }

  /** Starts an in-process server with a fresh {@link DemoItemService}; connects {@code setup}. */
  static ItemServiceConnection start(ChannelSetup setup) {
    return start(Transport.IN_PROCESS, setup);
  }

  /**
   * Starts a server of {@code transport} with a fresh {@link DemoItemService} and connects a
   * channel of {@code setup} to it.
   */
  static ItemServiceConnection start(Transport transport, ChannelSetup setup) {
    Server server;
    try {
      server = transport.startServer(new DemoItemService());
    } catch (IOException e) {
      throw new UncheckedIOException(transport + " server failed to start", e);
    }
    ManagedChannel managedChannel = setup.configure(transport.channelBuilder(server)).build();
    return new ItemServiceConnection(server, managedChannel, setup.intercept(managedChannel));
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
          "server or channel did not terminate within "
              + SHUTDOWN_SECONDS
              + " s (channel terminated: "
              + channelDone
              + ", server terminated: "
              + serverDone
              + "): a benchmark left a call open");
    }
  }
}
