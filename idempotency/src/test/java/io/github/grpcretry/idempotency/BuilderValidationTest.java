package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every builder parameter is checked when it is set, with a message that names the rule. */
class BuilderValidationTest {
  private static IdempotencyInterceptor.Builder builder() {
    return IdempotencyInterceptor.newBuilder();
  }

  @Test
  void clientStreamingAndBidiMethodsAreRejected() {
    assertThatThrownBy(() -> builder().method(ItemServiceGrpc.getUploadItemsMethod()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("method must be UNARY or SERVER_STREAMING")
        .hasMessageContaining("grpcretry.demo.v1.ItemService/UploadItems is CLIENT_STREAMING");
    assertThatThrownBy(() -> builder().method(ItemServiceGrpc.getSyncItemsMethod()))
        .hasMessageContaining("SyncItems is BIDI_STREAMING");
    assertThat(builder().method(ItemServiceGrpc.getListItemsMethod())).isNotNull();
  }

  @Test
  void aMethodNameIsEnabledWithOneDescriptor() {
    io.grpc.MethodDescriptor<?, ?> create = ItemServiceGrpc.getCreateItemMethod();
    io.grpc.MethodDescriptor<?, ?> copy = create.toBuilder().build();
    builder().method(create).method(create);
    assertThatThrownBy(() -> builder().method(create).method(copy))
        .hasMessageContaining("method must be enabled once per name");
  }

  @Test
  void buildNeedsAMethod() {
    assertThatThrownBy(() -> builder().singleTrustedCaller().build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("at least one method must be enabled");
  }

  @Test
  void buildNeedsACallerScopeUnlessThereIsOneTrustedCaller() {
    assertThatThrownBy(() -> builder().method(ItemServiceGrpc.getCreateItemMethod()).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("a caller scope is required")
        .hasMessageContaining("singleTrustedCaller()");
    assertThat(
            builder().method(ItemServiceGrpc.getCreateItemMethod()).singleTrustedCaller().build())
        .isNotNull();
    assertThat(
            builder()
                .method(ItemServiceGrpc.getCreateItemMethod())
                .callerScope(CallerScope.tlsPeer())
                .build()
                .toString())
        .contains("CallerScope.tlsPeer()");
  }

  @Test
  void callerScopeAndSingleTrustedCallerExcludeEachOther() {
    assertThatThrownBy(() -> builder().singleTrustedCaller().callerScope(CallerScope.tlsPeer()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("exclude each other");
    assertThatThrownBy(() -> builder().callerScope(CallerScope.tlsPeer()).singleTrustedCaller())
        .hasMessageContaining("exclude each other");
  }

  @Test
  void headerName() {
    assertThatThrownBy(() -> builder().headerName("Idempotency-Key"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("headerName must be lower-case letters");
    assertThatThrownBy(() -> builder().headerName(""))
        .hasMessageContaining("headerName must be lower-case letters");
    assertThatThrownBy(() -> builder().headerName("key-bin")).hasMessageContaining("-bin");
    assertThatThrownBy(() -> builder().headerName("grpc-key")).hasMessageContaining("grpc-");
    assertThat(builder().headerName("x-request-key")).isNotNull();
  }

  @Test
  void maxKeyLength() {
    assertThatThrownBy(() -> builder().maxKeyLength(0))
        .hasMessage("maxKeyLength must be between 1 and 4096: 0");
    assertThatThrownBy(() -> builder().maxKeyLength(4097))
        .hasMessage("maxKeyLength must be between 1 and 4096: 4097");
  }

  @Test
  void storedCodes() {
    assertThatThrownBy(() -> builder().storedCodes(Status.Code.INVALID_ARGUMENT))
        .hasMessageContaining("storedCodes must contain OK");
    for (Status.Code never :
        List.of(
            Status.Code.CANCELLED,
            Status.Code.DEADLINE_EXCEEDED,
            Status.Code.UNAVAILABLE,
            Status.Code.RESOURCE_EXHAUSTED)) {
      assertThatThrownBy(() -> builder().storedCodes(Status.Code.OK, never))
          .as(never.name())
          .hasMessageContaining("storedCodes must not contain")
          .hasMessageEndingWith("[" + never + "]");
    }
    assertThat(builder().storedCodes(Status.Code.OK, Status.Code.ABORTED)).isNotNull();
  }

  @Test
  void maxResponseBytes() {
    assertThatThrownBy(() -> builder().maxResponseBytes(0))
        .hasMessage("maxResponseBytes must be between 1 and 1073741824: 0");
    assertThatThrownBy(() -> builder().maxResponseBytes((1L << 30) + 1))
        .hasMessageContaining("maxResponseBytes must be between 1 and 1073741824");
  }

  @Test
  void handlerGracePeriod() {
    assertThatThrownBy(() -> builder().handlerGracePeriod(Duration.ofMillis(-1)))
        .hasMessage("handlerGracePeriod must be >= 0: PT-0.001S");
    assertThatThrownBy(() -> builder().handlerGracePeriod(Duration.ofDays(2)))
        .hasMessage("handlerGracePeriod must be at most 1 day: PT48H");
    assertThat(builder().handlerGracePeriod(Duration.ZERO)).isNotNull();
  }

  @Test
  void nullsAreRefusedByName() {
    assertThatThrownBy(() -> builder().method(null)).hasMessage("method");
    assertThatThrownBy(() -> builder().callerScope(null)).hasMessage("scope");
    assertThatThrownBy(() -> builder().store(null)).hasMessage("store");
    assertThatThrownBy(() -> builder().executor(null)).hasMessage("executor");
    assertThatThrownBy(() -> builder().scheduler(null)).hasMessage("scheduler");
    assertThatThrownBy(() -> builder().storedCodes((List<Status.Code>) null)).hasMessage("codes");
  }

  @Test
  void caffeineStoreBuilder() {
    assertThatThrownBy(() -> CaffeineIdempotencyStore.newBuilder().timeToLive(Duration.ZERO))
        .hasMessage("timeToLive must be > 0: PT0S");
    assertThatThrownBy(() -> CaffeineIdempotencyStore.newBuilder().maximumWeight(0))
        .hasMessage("maximumWeight must be >= 1 byte: 0");
    assertThatThrownBy(() -> CaffeineIdempotencyStore.newBuilder().ticker(null))
        .hasMessage("ticker");
    CaffeineIdempotencyStore store = CaffeineIdempotencyStore.create();
    assertThat(store.timeToLive()).isEqualTo(Duration.ofHours(24));
    assertThat(store.maximumWeight()).isEqualTo(64L << 20);
  }

  @Test
  void theBuilderStaysReusable() {
    IdempotencyInterceptor.Builder builder =
        builder().method(ItemServiceGrpc.getCreateItemMethod()).singleTrustedCaller();
    assertThat(builder.build()).isNotSameAs(builder.build());
  }
}
