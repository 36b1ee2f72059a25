package io.github.grpcretry.examples.quickstart;

import io.github.grpcretry.demo.DemoItemService;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The demo ItemService on loopback, failing a fixed share of calls with UNAVAILABLE, the way a
 * server behind a flaky load balancer or during a rolling restart does.
 */
public final class FlakyServer implements AutoCloseable {
  private final Server server;
  private final AtomicLong calls = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();

  private FlakyServer(double failureRate, long seed) throws IOException {
    Random random = new Random(seed);
    ServerInterceptor flaky =
        new ServerInterceptor() {
          @Override
          public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
              ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
            calls.incrementAndGet();
            boolean fail;
            synchronized (random) {
              fail = random.nextDouble() < failureRate;
            }
            if (fail) {
              failures.incrementAndGet();
              call.close(Status.UNAVAILABLE.withDescription("flaky server"), new Metadata());
              return new ServerCall.Listener<>() {};
            }
            return next.startCall(call, headers);
          }
        };
    server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(ServerInterceptors.intercept(new DemoItemService(), flaky))
            .build()
            .start();
  }

  /** Starts a server on a free loopback port that fails {@code failureRate} of its calls. */
  public static FlakyServer start(double failureRate, long seed) throws IOException {
    if (!(failureRate >= 0 && failureRate <= 1)) {
      throw new IllegalArgumentException("failureRate must be in [0, 1]: " + failureRate);
    }
    return new FlakyServer(failureRate, seed);
  }

  public int port() {
    return server.getPort();
  }

  /** Calls (attempts) the server has seen. */
  public long calls() {
    return calls.get();
  }

  /** Calls the server failed on purpose. */
  public long failures() {
    return failures.get();
  }

  /**
   * Stops the server and waits for it to terminate. An interrupt ends the wait and is kept on the
   * thread: AutoCloseable.close() must not throw InterruptedException, which try-with-resources
   * would pass on without restoring the flag.
   */
  @Override
  public void close() {
    try {
      server.shutdownNow().awaitTermination();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
