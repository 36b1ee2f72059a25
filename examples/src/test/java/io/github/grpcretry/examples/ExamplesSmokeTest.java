package io.github.grpcretry.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.examples.idempotency.IdempotencyClient;
import io.github.grpcretry.examples.quickstart.QuickstartClient;
import io.github.grpcretry.examples.serviceconfig.ServiceConfigClient;
import io.github.grpcretry.examples.sharedbudget.SharedBudgetClient;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
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
}
