package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The byte form of outcomes and request hashes. */
class OutcomesTest {
  private static final MethodDescriptor.Marshaller<Item> ITEMS =
      ItemServiceGrpc.getListItemsMethod().getResponseMarshaller();
  private static final Metadata.Key<String> TEXT =
      Metadata.Key.of("note", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<byte[]> BINARY =
      Metadata.Key.of("blob-bin", Metadata.BINARY_BYTE_MARSHALLER);

  @Test
  void anOutcomeRoundTrips() {
    Metadata headers = new Metadata();
    headers.put(TEXT, "h1");
    headers.put(TEXT, "h2");
    Metadata trailers = new Metadata();
    trailers.put(BINARY, new byte[] {0, 1, (byte) 255});
    Outcomes.Recorder recorder = new Outcomes.Recorder(1 << 20);
    recorder.headers(headers);
    recorder.message(ITEMS, Item.newBuilder().setId("a").build());
    recorder.message(ITEMS, Item.newBuilder().setId("b").build());
    byte[] bytes = recorder.close(Status.NOT_FOUND.withDescription("gone: é"), trailers);

    Outcomes.Decoded decoded = Outcomes.decode(bytes);

    assertThat(decoded.headers.getAll(TEXT)).containsExactly("h1", "h2");
    assertThat(decoded.messages)
        .extracting(m -> ITEMS.parse(new ByteArrayInputStream(m)).getId())
        .containsExactly("a", "b");
    assertThat(decoded.status.getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(decoded.status.getDescription()).isEqualTo("gone: é");
    assertThat(decoded.trailers.get(BINARY)).containsExactly(0, 1, 255);
  }

  @Test
  void aCloseWithoutHeadersOrDescriptionRoundTrips() {
    byte[] bytes = new Outcomes.Recorder(100).close(Status.OK, new Metadata());
    Outcomes.Decoded decoded = Outcomes.decode(bytes);
    assertThat(decoded.headers).isNull();
    assertThat(decoded.messages).isEmpty();
    assertThat(decoded.status.isOk()).isTrue();
    assertThat(decoded.status.getDescription()).isNull();
  }

  @Test
  void anOutcomeOverTheLimitIsNotKept() {
    Outcomes.Recorder recorder = new Outcomes.Recorder(64);
    recorder.message(ITEMS, Item.newBuilder().setValue("x".repeat(100)).build());
    assertThat(recorder.overflowed()).isTrue();
    assertThat(recorder.close(Status.OK, new Metadata())).isNull();
  }

  @Test
  void corruptBytesAreRefused() {
    byte[] bytes = new Outcomes.Recorder(100).close(Status.OK, new Metadata());
    assertThatThrownBy(() -> Outcomes.decode(Arrays.copyOf(bytes, bytes.length - 1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Outcomes.decode(new byte[] {9}))
        .hasMessageContaining("unknown outcome version");
  }

  @Test
  void theRequestHashIsTheSha256OfTheSerializedRequest() throws Exception {
    Item item = Item.newBuilder().setId("a").setValue("v").build();
    byte[] expected =
        java.security.MessageDigest.getInstance("SHA-256").digest(item.toByteArray());
    assertThat(Outcomes.requestHash(ITEMS, item)).isEqualTo(expected);
    assertThat(Outcomes.requestHash(ITEMS, item.toBuilder().setValue("w").build()))
        .isNotEqualTo(expected);
  }
}
