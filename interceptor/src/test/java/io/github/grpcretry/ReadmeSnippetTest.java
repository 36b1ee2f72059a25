package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The README's quickstart compiles, works, and is the same text as here. */
class ReadmeSnippetTest {
  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();

  @Test
  void theQuickstartWorksAsWritten() {
    FaultInjector faults = FaultInjector.create();
    faults.script(ItemServiceGrpc.getGetItemMethod()).then(Fault.fail(Status.UNAVAILABLE));
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    ManagedChannel managedChannel = grpc.newChannel(b -> {});

    // README:quickstart:start
    RetryPolicy policy = RetryPolicy.newBuilder()
        .maxAttempts(4)
        .initialBackoff(Duration.ofMillis(100))
        .maxBackoff(Duration.ofSeconds(2))
        .backoffMultiplier(2.0)
        .retryableStatusCodes(Status.Code.UNAVAILABLE)
        .perAttemptTimeout(Duration.ofMillis(500))   // optional
        .timeout(Duration.ofSeconds(5))              // optional: the deadline when the caller sets none
        .build();
    RetryInterceptor retry = RetryInterceptor.newBuilder()
        .defaultPolicy(policy)
        .build();
    Channel channel = ClientInterceptors.intercept(managedChannel, retry);
    // README:quickstart:end

    String id =
        ItemServiceGrpc.newBlockingStub(channel)
            .getItem(GetItemRequest.newBuilder().setId("q").build())
            .getId();
    assertThat(id).isEqualTo("q");
    assertThat(faults.attemptCount(ItemServiceGrpc.getGetItemMethod())).isEqualTo(2);
  }

  @Test
  void theHedgingExampleWorksAsWritten() {
    FaultInjector faults = FaultInjector.create();
    faults
        .script(ItemServiceGrpc.getGetItemMethod())
        .then(Fault.fail(Status.UNAVAILABLE))
        .then(Fault.pass());
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    ManagedChannel managedChannel = grpc.newChannel(b -> b.overrideAuthority("hedging.example"));

    // README:hedging:start
    HedgingPolicy hedging = HedgingPolicy.newBuilder()
        .maxAttempts(2)
        .hedgingDelay(Duration.ofMillis(20))
        .nonFatalStatusCodes(Status.Code.UNAVAILABLE)
        .build();
    RetryInterceptor interceptor = RetryInterceptor.newBuilder()
        .methodPolicy(ItemServiceGrpc.getGetItemMethod(), hedging)
        .build();
    // README:hedging:end

    Channel channel = ClientInterceptors.intercept(managedChannel, interceptor);
    assertThat(
            ItemServiceGrpc.newBlockingStub(channel)
                .getItem(GetItemRequest.newBuilder().setId("h").build())
                .getId())
        .isEqualTo("h");
    assertThat(faults.attemptCount(ItemServiceGrpc.getGetItemMethod())).isEqualTo(2);
  }

  @Test
  void theServiceConfigAndItsBuilderEquivalentGiveTheSamePolicies() {
    // README:service-config:start
    String config = """
        {
          "methodConfig": [
            {
              "name": [
                {"service": "grpcretry.demo.v1.ItemService", "method": "GetItem"},
                {"service": "grpcretry.demo.v1.ItemService", "method": "ListItems"}
              ],
              "timeout": "2s",
              "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
              }
            },
            {
              "name": [{"service": "grpcretry.demo.v1.ItemService"}],
              "retryPolicy": {
                "maxAttempts": 2,
                "initialBackoff": "0.2s",
                "maxBackoff": "0.2s",
                "backoffMultiplier": 1,
                "retryableStatusCodes": ["UNAVAILABLE"]
              }
            }
          ],
          "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
        }""";
    RetryInterceptor fromJson = RetryInterceptor.newBuilder().serviceConfig(config).build();
    // README:service-config:end

    // README:service-config-builder:start
    RetryPolicy reads = RetryPolicy.newBuilder()
        .maxAttempts(4)
        .initialBackoff(Duration.ofMillis(100))
        .maxBackoff(Duration.ofSeconds(1))
        .backoffMultiplier(2)
        .retryableStatusCodes(Status.Code.UNAVAILABLE, Status.Code.RESOURCE_EXHAUSTED)
        .timeout(Duration.ofSeconds(2))
        .build();
    RetryPolicy others = RetryPolicy.newBuilder()
        .maxAttempts(2)
        .initialBackoff(Duration.ofMillis(200))
        .maxBackoff(Duration.ofMillis(200))
        .backoffMultiplier(1)
        .retryableStatusCodes(Status.Code.UNAVAILABLE)
        .build();
    RetryInterceptor fromBuilder = RetryInterceptor.newBuilder()
        .methodPolicy("grpcretry.demo.v1.ItemService/GetItem", reads)
        .methodPolicy("grpcretry.demo.v1.ItemService/ListItems", reads)
        .servicePolicy("grpcretry.demo.v1.ItemService", others)
        .retryBudget(RetryBudget.grpcRetryThrottling(10, 0.1))
        .build();
    // README:service-config-builder:end

    for (io.grpc.MethodDescriptor<?, ?> method :
        new io.grpc.MethodDescriptor<?, ?>[] {
          ItemServiceGrpc.getGetItemMethod(),
          ItemServiceGrpc.getListItemsMethod(),
          ItemServiceGrpc.getPutItemMethod(),
          ItemServiceGrpc.getCreateItemMethod()
        }) {
      assertThat(fromJson.policyFor(method))
          .as(method.getFullMethodName())
          .isEqualTo(fromBuilder.policyFor(method));
    }
    assertThat(fromJson.policyFor(ItemServiceGrpc.getGetItemMethod())).isEqualTo(reads);
    assertThat(fromJson.policyFor(ItemServiceGrpc.getPutItemMethod())).isEqualTo(others);
    assertThat(fromJson.toString()).contains("grpcRetryThrottling(10, 0.1)");
    assertThat(fromBuilder.toString()).contains("grpcRetryThrottling(10, 0.1)");
  }

  @Test
  void theReadmeShowsTheSnippetsVerbatim() throws IOException {
    String readme = Files.readString(Path.of("..", "README.md"), StandardCharsets.UTF_8);
    for (String name :
        new String[] {"quickstart", "hedging", "service-config", "service-config-builder"}) {
      assertThat(readme).as(name).contains(snippet(name));
    }
  }

  /** The lines between the markers {@code // README:<name>:start} and {@code :end}, dedented. */
  static String snippet(String name) throws IOException {
    Path source = Path.of("src/test/java/io/github/grpcretry/ReadmeSnippetTest.java");
    String text = Files.readString(source, StandardCharsets.UTF_8);
    String start = "// README:" + name + ":start\n";
    String body =
        text.substring(
            text.indexOf(start) + start.length(), text.indexOf("    // README:" + name + ":end"));
    return Arrays.stream(body.split("\n"))
        .map(line -> line.startsWith("    ") ? line.substring(4) : line)
        .collect(Collectors.joining("\n"));
  }
}
