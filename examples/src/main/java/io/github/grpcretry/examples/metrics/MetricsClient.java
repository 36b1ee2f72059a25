package io.github.grpcretry.examples.metrics;

import io.github.grpcretry.CircuitBreaker;
import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryListener;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.examples.quickstart.FlakyServer;
import io.github.grpcretry.opentelemetry.RetryMetrics;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.opentelemetry.exporter.logging.LoggingMetricExporter;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.metrics.SdkMeterProvider;
import io.opentelemetry.sdk.metrics.export.PeriodicMetricReader;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * A client wired to the OpenTelemetry SDK: {@link RetryMetrics} records the retries of calls to a
 * flaky server, and the SDK's logging exporter prints every metric through {@code
 * java.util.logging} when the program ends (and every 60 seconds before, for a long run).
 *
 * <p>Run: {@code mvn -q -pl examples -am -DskipTests package exec:java
 * -Dexec.mainClass=io.github.grpcretry.examples.metrics.MetricsClient}; arguments: calls and
 * the server's failure rate, {@code -Dexec.args="500 0.3"}.
 */
public final class MetricsClient {
  private MetricsClient() {}

  public static void main(String[] args) throws Exception {
    int calls = args.length > 0 ? Integer.parseInt(args[0]) : 200;
    double failureRate = args.length > 1 ? Double.parseDouble(args[1]) : 0.3;

    // The application owns the SDK: a reader with an exporter, here the one that logs.
    SdkMeterProvider meterProvider =
        SdkMeterProvider.builder()
            .registerMetricReader(
                PeriodicMetricReader.builder(LoggingMetricExporter.create())
                    .setInterval(Duration.ofSeconds(60))
                    .build())
            .build();
    OpenTelemetrySdk openTelemetry =
        OpenTelemetrySdk.builder().setMeterProvider(meterProvider).build();

    RetryMetrics metrics = RetryMetrics.create(openTelemetry);
    RetryInterceptor retry =
        RetryInterceptor.newBuilder()
            .defaultPolicy(
                RetryPolicy.newBuilder()
                    .maxAttempts(4)
                    .initialBackoff(Duration.ofMillis(5))
                    .maxBackoff(Duration.ofMillis(50))
                    .build())
            .circuitBreakers(CircuitBreaker.classic().factory())
            .addListener(metrics.listener())
            .addListener(RetryListener.logging())
            .build();
    metrics.observe(retry); // budget tokens and breaker state of the targets it calls

    int failed = 0;
    try (FlakyServer server = FlakyServer.start(failureRate, 11)) {
      ManagedChannel managed =
          NettyChannelBuilder.forAddress("127.0.0.1", server.port())
              .usePlaintext()
              .disableRetry()
              .build();
      try {
        Channel channel = ClientInterceptors.intercept(managed, retry);
        ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
        for (int i = 0; i < calls; i++) {
          try {
            stub.getItem(GetItemRequest.newBuilder().setId("item-" + i).build());
          } catch (StatusRuntimeException e) {
            failed++;
          }
        }
      } finally {
        managed.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      System.out.printf(
          Locale.ROOT,
          "%d calls to a server failing %.0f%% of attempts: %d failed after retries, the server"
              + " saw %d attempts.%nThe logging exporter prints the metrics now:%n",
          calls,
          failureRate * 100,
          failed,
          server.calls());
    } finally {
      // Shutting the SDK down exports what was recorded, gauges included, then stops the reader.
      openTelemetry.shutdown().join(10, TimeUnit.SECONDS);
      metrics.close();
    }
  }
}
