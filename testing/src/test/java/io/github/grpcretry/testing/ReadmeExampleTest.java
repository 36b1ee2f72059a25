package io.github.grpcretry.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.common.util.concurrent.ListenableFuture;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The example of the README, kept here so that it compiles and runs with the build. */
class ReadmeExampleTest {
  // README-BEGIN
  private static final Duration REAL_TIMEOUT = Duration.ofSeconds(10);
  private static final MethodDescriptor<GetItemRequest, Item> GET_ITEM =
      ItemServiceGrpc.getGetItemMethod();
  private static final Metadata.Key<String> PUSHBACK =
      Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);

  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @RegisterExtension
  final GrpcServerExtension grpc =
      GrpcServerExtension.create().addService(new DemoItemService()).addServerInterceptor(faults);

  @Test
  void failsWithPushbackThenAnswersOnlyWhenTimeMoves() throws Exception {
    faults
        .script(GET_ITEM)
        .then(Fault.fail(Status.UNAVAILABLE).withPushback(100))
        .then(Fault.delay(Duration.ofSeconds(2)));
    ItemServiceGrpc.ItemServiceFutureStub stub = ItemServiceGrpc.newFutureStub(grpc.channel());
    GetItemRequest request = GetItemRequest.newBuilder().setId("a").build();

    // First attempt: fails at once, with a pushback trailer for the client's retry logic.
    StatusRuntimeException first =
        catchThrowableOfType(
            StatusRuntimeException.class,
            () -> ItemServiceGrpc.newBlockingStub(grpc.channel()).getItem(request));
    assertThat(first.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(first.getTrailers().get(PUSHBACK)).isEqualTo("100");

    // Second attempt: held by the delay until the test moves the clock.
    ListenableFuture<Item> second = stub.getItem(request);
    assertThat(clock.awaitPendingTasks(1, REAL_TIMEOUT)).isTrue();
    assertThat(second).isNotDone();
    clock.advance(Duration.ofSeconds(2));
    assertThat(second.get(REAL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS).getValue())
        .isEqualTo("value-a");

    // Every attempt is recorded, with the fault applied and the outcome.
    assertThat(faults.attempts(GET_ITEM))
        .extracting(attempt -> attempt.outcome().getCode())
        .containsExactly(Status.Code.UNAVAILABLE, Status.Code.OK);
    assertThat(faults.attempts(GET_ITEM).get(1).startNanos()).isZero();
  }

  // README-END

  @Test
  void readmeShowsThisExample() throws Exception {
    // Surefire runs in the module directory, where both files live.
    String source =
        Files.readString(
            Path.of("src/test/java/io/github/grpcretry/testing/ReadmeExampleTest.java"));
    String example =
        source
            .substring(
                source.indexOf("// README-BEGIN\n") + "// README-BEGIN\n".length(),
                source.indexOf("  // README-END"))
            .replaceAll("(?m)^  ", "")
            .strip();

    assertThat(Files.readString(Path.of("README.md"))).contains(example);
  }
}
