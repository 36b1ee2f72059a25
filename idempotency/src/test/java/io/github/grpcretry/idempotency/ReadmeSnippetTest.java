package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.BindableService;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The README's "Idempotency keys" snippet compiles, works, and is the same text as here. */
class ReadmeSnippetTest {
  /** Set by the application's authentication interceptor. */
  private static final Context.Key<String> USER = Context.key("user");

  @Test
  void theSnippetWorks() throws Exception {
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    BindableService orderService = new CountingItemService(timer);
    String name = InProcessServerBuilder.generateName();
    InProcessServerBuilder serverBuilder = InProcessServerBuilder.forName(name);
    // README:idempotency:start
    IdempotencyInterceptor idempotency = IdempotencyInterceptor.newBuilder()
        .method(ItemServiceGrpc.getCreateItemMethod())
        .callerScope(CallerScope.fromContext(USER, user -> "user:" + user))
        .store(CaffeineIdempotencyStore.newBuilder()
            .timeToLive(Duration.ofHours(24))
            .maximumWeight(64L << 20)
            .build())
        .build();
    serverBuilder.addService(ServerInterceptors.intercept(orderService, idempotency));
    // README:idempotency:end
    Server server = serverBuilder.build().start();
    ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
    try {
      // No authentication in this test: the scope is missing, so a keyed request is refused.
      Item unkeyed =
          ItemServiceGrpc.newBlockingStub(channel)
              .createItem(
                  CreateItemRequest.newBuilder().setItem(Item.newBuilder().setValue("v")).build());
      assertThat(unkeyed.getValue()).isEqualTo("v");
      assertThat(idempotency.toString()).contains("CreateItem");
    } finally {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      timer.shutdownNow();
    }
  }

  @Test
  void theReadmeShowsTheSnippetVerbatim() throws IOException {
    String readme = Files.readString(Path.of("..", "README.md"), StandardCharsets.UTF_8);
    assertThat(readme).contains(snippet("idempotency"));
  }

  private static String snippet(String name) throws IOException {
    Path source = Path.of("src/test/java/io/github/grpcretry/idempotency/ReadmeSnippetTest.java");
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
