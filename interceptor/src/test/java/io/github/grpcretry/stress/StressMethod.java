package io.github.grpcretry.stress;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.grpc.MethodDescriptor;
import io.grpc.MethodDescriptor.MethodType;

/**
 * The six methods of the demo {@code ItemService}, with what the harness needs of each: its
 * descriptor, whether it may be hedged, and how to build its request and response messages.
 */
enum StressMethod {
  GET_ITEM(ItemServiceGrpc.getGetItemMethod()),
  PUT_ITEM(ItemServiceGrpc.getPutItemMethod()),
  CREATE_ITEM(ItemServiceGrpc.getCreateItemMethod()),
  LIST_ITEMS(ItemServiceGrpc.getListItemsMethod()),
  UPLOAD_ITEMS(ItemServiceGrpc.getUploadItemsMethod()),
  SYNC_ITEMS(ItemServiceGrpc.getSyncItemsMethod());

  private final MethodDescriptor<?, ?> descriptor;

  StressMethod(MethodDescriptor<?, ?> descriptor) {
    this.descriptor = descriptor;
  }

  @SuppressWarnings("unchecked")
  MethodDescriptor<Object, Object> descriptor() {
    return (MethodDescriptor<Object, Object>) descriptor;
  }

  MethodType type() {
    return descriptor.getType();
  }

  /** Marked IDEMPOTENT or NO_SIDE_EFFECTS in the proto: may be hedged. */
  boolean safeToRepeat() {
    return descriptor.isIdempotent() || descriptor.isSafe();
  }

  boolean clientStreams() {
    return !descriptor.getType().clientSendsOneMessage();
  }

  /** Whether the server may send several messages (and OK with none). */
  boolean serverStreams() {
    return !descriptor.getType().serverSendsOneMessage();
  }

  static StressMethod of(MethodDescriptor<?, ?> method) {
    for (StressMethod m : values()) {
      if (m.descriptor.getFullMethodName().equals(method.getFullMethodName())) {
        return m;
      }
    }
    throw new IllegalArgumentException("not an ItemService method: " + method.getFullMethodName());
  }

  /** The {@code index}-th request message of call {@code callId}. */
  Object request(long callId, int index) {
    String id = "c" + callId + "-r" + index;
    Item item = Item.newBuilder().setId(id).setValue("v").build();
    return switch (this) {
      case GET_ITEM -> GetItemRequest.newBuilder().setId(id).build();
      case PUT_ITEM -> PutItemRequest.newBuilder().setItem(item).build();
      case CREATE_ITEM -> CreateItemRequest.newBuilder().setItem(item).build();
      case LIST_ITEMS -> ListItemsRequest.newBuilder().setPrefix(id).build();
      case UPLOAD_ITEMS, SYNC_ITEMS -> item;
    };
  }

  /** A response message carrying {@code tag}; {@code received} request messages so far. */
  Object response(String tag, int received) {
    if (this == UPLOAD_ITEMS) {
      return UploadSummary.newBuilder().setCount(received).addIds(tag).build();
    }
    return Item.newBuilder().setId(tag).build();
  }
}
