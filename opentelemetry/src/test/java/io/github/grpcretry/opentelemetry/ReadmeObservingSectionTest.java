package io.github.grpcretry.opentelemetry;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryListener;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Status;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.metrics.SdkMeterProvider;
import io.opentelemetry.sdk.metrics.data.MetricData;
import io.opentelemetry.sdk.testing.exporter.InMemoryMetricReader;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The README's "Observing retries": its snippets are the code here, which compiles and works, and
 * its metric table names every metric with the unit it is recorded in.
 */
class ReadmeObservingSectionTest {
  private static final Path README = Path.of("..", "README.md");

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final FaultInjector faults = FaultInjector.create();
  private final RetryPolicy policy =
      RetryPolicy.newBuilder()
          .maxAttempts(2)
          .initialBackoff(Duration.ofNanos(1_000))
          .maxBackoff(Duration.ofNanos(1_000))
          .build();

  private static String readme() throws IOException {
    return stripped(Files.readString(README, StandardCharsets.UTF_8));
  }

  private static String stripped(String text) {
    return text.lines().map(String::strip).collect(Collectors.joining("\n"));
  }

  /** The lines between {@code // README:name:start} and its end in this file's source. */
  private static String snippet(String name) throws IOException {
    String source =
        Files.readString(
            Path.of("src/test/java/io/github/grpcretry/opentelemetry")
                .resolve("ReadmeObservingSectionTest.java"),
            StandardCharsets.UTF_8);
    Matcher region =
        Pattern.compile(
                "(?s)// README:" + name + ":start\\n(.*?)\\n\\s*// README:" + name + ":end")
            .matcher(source);
    assertThat(region.find()).as("README:%s in this test", name).isTrue();
    return stripped(region.group(1));
  }

  private void callOnceFailingFirst(RetryInterceptor retry) {
    faults.reset();
    faults.script(ItemServiceGrpc.getGetItemMethod()).then(Fault.fail(Status.UNAVAILABLE));
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    ItemServiceGrpc.newBlockingStub(channel)
        .getItem(GetItemRequest.newBuilder().setId("r").build());
  }

  @Test
  void theListenerSnippetWorksAsWritten() throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    // README:listener:start
    AtomicLong retriedCalls = new AtomicLong();
    RetryInterceptor retry = RetryInterceptor.newBuilder()
        .defaultPolicy(policy)
        .addListener(new RetryListener() {
          @Override
          public void onCallClosed(CallClosed call) {
            if (call.attempts() > 1) {
              retriedCalls.incrementAndGet();
            }
          }
        })
        .addListener(RetryListener.logging())
        .build();
    // README:listener:end
    callOnceFailingFirst(retry);
    // The listener may hear the close just after the application: wait for it, bounded.
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (retriedCalls.get() == 0 && System.nanoTime() < end) {
      Thread.sleep(1);
    }
    assertThat(retriedCalls).hasValue(1);
    assertThat(readme()).contains(snippet("listener"));
  }

  @Test
  void theMetricsSnippetWorksAsWritten() throws Exception {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    InMemoryMetricReader reader = InMemoryMetricReader.create();
    try (OpenTelemetrySdk sdk =
        OpenTelemetrySdk.builder()
            .setMeterProvider(SdkMeterProvider.builder().registerMetricReader(reader).build())
            .build()) {
      OpenTelemetry openTelemetry = sdk;
      // README:metrics:start
      RetryMetrics metrics = RetryMetrics.create(openTelemetry);
      RetryInterceptor retry = RetryInterceptor.newBuilder()
          .defaultPolicy(policy)
          .addListener(metrics.listener())   // the per-call metrics
          .build();
      metrics.observe(retry);                // the budget and breaker gauges of its targets
      // README:metrics:end
      callOnceFailingFirst(retry);
      assertThat(reader.collectAllMetrics())
          .extracting(MetricData::getName)
          .contains(RetryMetrics.BUDGET_TOKENS);
    }
    assertThat(readme()).contains(snippet("metrics"));
  }

  @Test
  void theTableNamesEveryMetricWithItsUnit() throws Exception {
    String readme = readme();
    List<String> rows = new ArrayList<>();
    for (Field field : RetryMetrics.class.getFields()) {
      String value = (String) field.get(null);
      if (Modifier.isStatic(field.getModifiers()) && value.contains(".client.")) {
        rows.add(
            readme.lines()
                .filter(line -> line.startsWith("| `" + value + "` |"))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no row for " + value + " in README")));
      }
    }
    assertThat(rows).hasSize(7);
    assertThat(rows)
        .anySatisfy(row -> assertThat(row).startsWith("| `grpc.client.call.retries` |")
            .contains("| `{retry}` |"))
        .anySatisfy(row -> assertThat(row).startsWith("| `grpc.client.call.hedges` |")
            .contains("| `{hedge}` |"))
        .anySatisfy(row -> assertThat(row).startsWith("| `grpc.client.call.retry_delay` |")
            .contains("| `s` |"))
        .anySatisfy(row -> assertThat(row).startsWith("| `grpc_retry.client.retries_refused` |")
            .contains("| `{retry}` |"))
        .anySatisfy(row -> assertThat(row).startsWith("| `grpc_retry.client.calls_rejected` |")
            .contains("| `{call}` |"))
        .anySatisfy(row -> assertThat(row).startsWith("| `grpc_retry.client.budget.tokens` |")
            .contains("| `{token}` |"))
        .anySatisfy(row -> assertThat(row).startsWith("| `grpc_retry.client.breaker.state` |")
            .contains("| `{state}` |"));
  }
}
