package io.github.grpcretry.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.examples.idempotency.IdempotencyClient;
import io.github.grpcretry.examples.metrics.MetricsClient;
import io.github.grpcretry.examples.quickstart.QuickstartClient;
import io.github.grpcretry.examples.serviceconfig.ServiceConfigClient;
import io.github.grpcretry.examples.sharedbudget.SharedBudgetClient;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.junit.jupiter.api.Test;

/** Each runnable example runs to its end on a small workload and prints its table. */
class ExamplesSmokeTest {

  private interface Main {
    void run() throws Exception;
  }

  private static String output(Main main) throws Exception {
    PrintStream original = System.out;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      main.run();
    } finally {
      System.setOut(original);
    }
    return captured.toString(StandardCharsets.UTF_8);
  }

  @Test
  void quickstart() throws Exception {
    String out = output(() -> QuickstartClient.main(new String[] {"40", "0.2"}));
    assertThat(out).contains("plain channel").contains("grpc-retry, maxAttempts 4");
  }

  @Test
  void serviceConfig() throws Exception {
    String out = output(() -> ServiceConfigClient.main(new String[] {"20"}));
    assertThat(out).contains("service config").contains("builder").contains("CreateItem");
  }

  @Test
  void sharedBudget() throws Exception {
    String out = output(() -> SharedBudgetClient.main(new String[] {"30"}));
    assertThat(out).contains("one shared TokenBucketBudget").contains("shared budget afterwards");
  }

  @Test
  void idempotency() throws Exception {
    String out = output(() -> IdempotencyClient.main(new String[] {"40", "0.3"}));
    assertThat(out).contains("retries, no keys").contains("retries, idempotency keys");
    // With keys, one item per call, however many of its responses were lost.
    String withKeys =
        out.lines().filter(line -> line.startsWith("retries, idempotency keys")).findFirst()
            .orElseThrow();
    String[] columns = withKeys.trim().split(" +");
    assertThat(columns[columns.length - 1]).isEqualTo("40");
  }

  @Test
  void metrics() throws Exception {
    // The SDK's logging exporter writes through java.util.logging, one record per metric.
    Logger exporter = Logger.getLogger("io.opentelemetry.exporter.logging.LoggingMetricExporter");
    List<String> exported = new CopyOnWriteArrayList<>();
    SimpleFormatter formatter = new SimpleFormatter();
    Handler capture =
        new Handler() {
          @Override
          public void publish(LogRecord record) {
            exported.add(formatter.formatMessage(record));
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    capture.setLevel(Level.ALL);
    exporter.addHandler(capture);
    try {
      String out = output(() -> MetricsClient.main(new String[] {"40", "0.3"}));
      assertThat(out).contains("40 calls to a server failing 30% of attempts");
    } finally {
      exporter.removeHandler(capture);
    }
    String all = String.join("\n", exported);
    assertThat(all)
        .contains("name=grpc.client.call.retries,")
        .contains("name=grpc.client.call.retry_delay,")
        .contains("name=grpc_retry.client.budget.tokens,")
        .contains("name=grpc_retry.client.breaker.state,")
        .contains("grpc.method")
        .contains("grpc.target");
  }
}
