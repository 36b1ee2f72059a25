package io.github.grpcretry.idempotency.redis;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A real {@code redis-server} on a free loopback port, started by a test and stopped after it:
 * nothing saved, nothing appended. A machine without {@code redis-server} skips the test, saying
 * so and how to install it.
 */
final class RedisServer implements AutoCloseable {
  static final String INSTALL = "apt-get update && apt-get install -y redis-server";

  private final Path binary;
  private final int port;
  private Process process;

  private RedisServer(Path binary, int port) throws IOException, InterruptedException {
    this.binary = binary;
    this.port = port;
    this.process = launch();
  }

  /**
   * Starts a server, or skips the calling test if {@code redis-server} is not on the PATH.
   *
   * @throws org.opentest4j.TestAbortedException when {@code redis-server} is missing
   */
  static RedisServer start() throws IOException, InterruptedException {
    assumeInstalled();
    return new RedisServer(find(), freePort());
  }

  /** Whether {@code redis-server} is on the PATH. */
  static boolean installed() {
    return find() != null;
  }

  /**
   * Skips the calling test, saying why and how to install it, if {@code redis-server} is missing.
   */
  static void assumeInstalled() {
    Assumptions.assumeTrue(
        installed(),
        "redis-server is not installed, so the tests of the Redis idempotency store are skipped;"
            + " install it with: " + INSTALL);
  }

  String uri() {
    return "redis://127.0.0.1:" + port;
  }

  /** Stops the server as a crash would (no shutdown command), keeping the port for a restart. */
  void stop() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** Starts the server again on the same port, empty. */
  void restart() throws IOException, InterruptedException {
    stop();
    process = launch();
  }

  @Override
  public void close() throws InterruptedException {
    stop();
  }

  private Process launch() throws IOException, InterruptedException {
    Path log = Path.of("target", "redis-" + port + ".log");
    Files.createDirectories(log.getParent());
    Process started =
        new ProcessBuilder(
                List.of(
                    binary.toString(),
                    "--port", Integer.toString(port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no"))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
            .start();
    for (int i = 0; i < 200; i++) {
      if (!started.isAlive()) {
        throw new IOException("redis-server exited with " + started.exitValue() + "; see " + log);
      }
      if (answersPing()) {
        return started;
      }
      Thread.sleep(50);
    }
    started.destroyForcibly();
    throw new IOException("redis-server did not answer PING within 10 s; see " + log);
  }

  private boolean answersPing() {
    try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
      socket.setSoTimeout(1000);
      OutputStream out = socket.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = socket.getInputStream();
      byte[] reply = new byte[7];
      int n = in.readNBytes(reply, 0, reply.length);
      return new String(reply, 0, n, StandardCharsets.US_ASCII).startsWith("+PONG");
    } catch (IOException notYet) {
      return false;
    }
  }

  private static Path find() {
    String path = System.getenv("PATH");
    if (path == null) {
      return null;
    }
    for (String dir : path.split(File.pathSeparator)) {
      Path candidate = Path.of(dir, "redis-server");
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return null;
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }
}
