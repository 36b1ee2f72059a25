package io.github.grpcretry.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The demo service lives in the proto module, which has no tests of its own. */
class DemoItemServiceTest {
  @RegisterExtension
  final GrpcServerExtension grpc = GrpcServerExtension.create().addService(new DemoItemService());

  private ItemServiceGrpc.ItemServiceBlockingStub blocking() {
    return ItemServiceGrpc.newBlockingStub(grpc.channel());
  }

  private static Item item(String id, String value) {
    return Item.newBuilder().setId(id).setValue(value).build();
  }

  private Item get(String id) {
    return blocking().getItem(GetItemRequest.newBuilder().setId(id).build());
  }

  @Test
  void getItemAnswersWithASyntheticItemUntilOneIsStored() {
    assertThat(get("a")).isEqualTo(item("a", "value-a"));

    Item stored = blocking().putItem(PutItemRequest.newBuilder().setItem(item("a", "x")).build());

    assertThat(stored).isEqualTo(item("a", "x"));
    assertThat(get("a")).isEqualTo(item("a", "x"));
  }

  @Test
  void createItemAssignsNewIds() {
    CreateItemRequest request = CreateItemRequest.newBuilder().setItem(item("", "v")).build();

    Item first = blocking().createItem(request);
    Item second = blocking().createItem(request);

    assertThat(first).isEqualTo(item("item-1", "v"));
    assertThat(second.getId()).isEqualTo("item-2");
    assertThat(get("item-2")).isEqualTo(second);
  }

  @Test
  void listItemsStreamsLimitItemsWithThreeByDefault() {
    assertThat(blocking().listItems(ListItemsRequest.newBuilder().setPrefix("p").build()))
        .toIterable()
        .containsExactly(
            item("p-0", "value-p-0"), item("p-1", "value-p-1"), item("p-2", "value-p-2"));
    assertThat(
            blocking().listItems(ListItemsRequest.newBuilder().setPrefix("q").setLimit(5).build()))
        .toIterable()
        .hasSize(5);
  }

  @Test
  void uploadItemsSummarizesAndStoresTheUpload() throws Exception {
    TestObserver<UploadSummary> response = new TestObserver<>();
    StreamObserver<Item> requests = ItemServiceGrpc.newStub(grpc.channel()).uploadItems(response);
    requests.onNext(
        item("b", "1").toBuilder().setPayload(ByteString.copyFrom(new byte[7])).build());
    requests.onNext(
        item("a", "2").toBuilder().setPayload(ByteString.copyFrom(new byte[3])).build());
    requests.onCompleted();

    assertThat(response.awaitStatus().getCode()).isEqualTo(Status.Code.OK);
    UploadSummary summary = response.values().get(0);
    assertThat(summary.getCount()).isEqualTo(2);
    assertThat(summary.getBytes()).isEqualTo(10);
    assertThat(summary.getIdsList()).containsExactly("b", "a");
    assertThat(get("a").getValue()).isEqualTo("2");
  }

  @Test
  void syncItemsEchoesUntilTheClientHalfCloses() throws Exception {
    TestObserver<Item> responses = new TestObserver<>();
    StreamObserver<Item> requests = ItemServiceGrpc.newStub(grpc.channel()).syncItems(responses);

    requests.onNext(item("a", "1"));
    requests.onNext(item("b", "2"));
    requests.onCompleted();

    assertThat(responses.awaitStatus().getCode()).isEqualTo(Status.Code.OK);
    assertThat(responses.values()).containsExactly(item("a", "1"), item("b", "2"));
  }
}
