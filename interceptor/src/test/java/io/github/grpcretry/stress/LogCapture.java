package io.github.grpcretry.stress;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Counts what gRPC and the interceptor log during the run instead of printing it: misbehaving user
 * code makes them log an exception per occurrence, which would drown the output of a long run. The
 * counts and the first message of each kind go into the figures.
 *
 * <p>Thread-safe.
 */
final class LogCapture extends Handler {
  private static final String[] NAMES = {"io.grpc", "io.github.grpcretry"};

  /** Held strongly: java.util.logging keeps loggers only weakly. */
  private final List<Logger> loggers = new ArrayList<>();
  private final Map<String, Long> counts = new LinkedHashMap<>();
  private final Map<String, String> firsts = new LinkedHashMap<>();

  static LogCapture install() {
    LogCapture capture = new LogCapture();
    for (String name : NAMES) {
      Logger logger = Logger.getLogger(name);
      capture.loggers.add(logger);
      logger.addHandler(capture);
      logger.setUseParentHandlers(false);
    }
    return capture;
  }

  void uninstall() {
    for (Logger logger : loggers) {
      logger.removeHandler(this);
      logger.setUseParentHandlers(true);
    }
  }

  @Override
  public void publish(LogRecord record) {
    if (record.getLevel().intValue() < Level.WARNING.intValue()) {
      return;
    }
    String key = record.getLoggerName() + " " + record.getLevel() + ": " + record.getMessage();
    synchronized (this) {
      counts.merge(key, 1L, Long::sum);
      if (!firsts.containsKey(key) && record.getThrown() != null) {
        firsts.put(key, String.valueOf(record.getThrown()));
      }
    }
  }

  synchronized String render() {
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, Long> e : counts.entrySet()) {
      sb.append(String.format("  %6d x %s%n", e.getValue(), e.getKey()));
      String thrown = firsts.get(e.getKey());
      if (thrown != null) {
        sb.append("           first: ").append(thrown).append('\n');
      }
    }
    return sb.length() == 0 ? "  (none)\n" : sb.toString();
  }

  @Override
  public void flush() {}

  @Override
  public void close() {}
}
