package io.github.grpcretry.benchmarks;

import io.grpc.BindableService;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * How a benchmark's client reaches its server. Both run the service and the client's callbacks
 * without a hand-off to an executor ({@code directExecutor()}); the transports differ in where
 * that is.
 */
enum Transport {
  /**
   * In the same process, with no thread of its own: a call, server included, runs on the thread
   * that makes it.
   */
  IN_PROCESS("") {
    @Override
    Server startServer(BindableService service) throws IOException {
      return InProcessServerBuilder.forName(InProcessServerBuilder.generateName())
          .directExecutor()
          .addService(service)
          .build()
          .start();
    }

    @Override
    ManagedChannelBuilder<?> channelBuilder(Server server) {
      // The in-process server listens on the InProcessSocketAddress of the name it was given.
      return InProcessChannelBuilder.forAddress(server.getListenSockets().get(0)).directExecutor();
    }
  },

  /**
   * HTTP/2 over TCP on {@code 127.0.0.1}, plaintext, on a port the system picks. The server's
   * work and the client's socket I/O run on Netty's event-loop threads; a blocking stub's caller
   * still runs the client's callbacks itself, as it waits for them.
   */
  NETTY_LOOPBACK("netty-") {
    @Override
    Server startServer(BindableService service) throws IOException {
      return NettyServerBuilder.forAddress(new InetSocketAddress(LOOPBACK, 0))
          .directExecutor()
          .addService(service)
          .build()
          .start();
    }

    @Override
    ManagedChannelBuilder<?> channelBuilder(Server server) {
      return NettyChannelBuilder.forAddress(LOOPBACK, server.getPort())
          .usePlaintext()
          .directExecutor();
    }
  };

  private static final String LOOPBACK = "127.0.0.1";

  private final String namePrefix;

  Transport(String namePrefix) {
    this.namePrefix = namePrefix;
  }

  /** What a set-up's name starts with on this transport: nothing, or {@code "netty-"}. */
  String namePrefix() {
    return namePrefix;
  }

  /** Starts a server of this transport with the one service. */
  abstract Server startServer(BindableService service) throws IOException;

  /** A builder of channels to {@code server}, which this transport started. */
  abstract ManagedChannelBuilder<?> channelBuilder(Server server);
}
