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
  private static final String START = "// README:quickstart:start";
  private static final String END = "// README:quickstart:end";

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();

  @Test
  void theQuickstartWorksAsWritten() {
    FaultInjector faults = FaultInjector.create();
    faults.script(ItemServiceGrpc.getGetItemMethod()).then(Fault.fail(Status.UNAVAILABLE));
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    // The default budget is shared per authority across the process: use one of its own.
    ManagedChannel managedChannel = grpc.newChannel(b -> b.overrideAuthority("quickstart.example"));

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
  void theReadmeShowsTheSnippetVerbatim() throws IOException {
    Path source = Path.of("src/test/java/io/github/grpcretry/ReadmeSnippetTest.java");
    String text = Files.readString(source, StandardCharsets.UTF_8);
    String body = text.substring(text.indexOf(START + "\n") + START.length() + 1, text.indexOf("    " + END));
    String snippet =
        Arrays.stream(body.split("\n"))
            .map(line -> line.startsWith("    ") ? line.substring(4) : line)
            .collect(Collectors.joining("\n"));
    String readme = Files.readString(Path.of("..", "README.md"), StandardCharsets.UTF_8);
    assertThat(readme).contains(snippet);
  }
}
