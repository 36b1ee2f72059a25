package io.github.grpcretry.benchmarks;

import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Channel;
import java.util.Arrays;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/** The call one operation of {@link PairedBenchmark} makes: the JMH benchmarks' calls. */
enum PairedScenario {
  /** {@link ItemCalls#getItem}, as {@code UnaryBenchmark.getItem}. */
  UNARY("unary", "one blocking GetItem") {
    @Override
    Runnable operation(Channel channel) {
      ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
      return () -> ItemCalls.getItem(stub);
    }
  },

  /** {@link ItemCalls#listItems}, as {@code StreamingBenchmark.listItems}. */
  LIST_ITEMS(
      "list-items", "one blocking ListItems of " + ItemCalls.MESSAGES + " items, drained") {
    @Override
    Runnable operation(Channel channel) {
      ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
      return () -> ItemCalls.listItems(stub, IGNORE);
    }
  },

  /** {@link ItemCalls#uploadItems}, as {@code StreamingBenchmark.uploadItems}. */
  UPLOAD_ITEMS(
      "upload-items",
      "one UploadItems of " + ItemCalls.MESSAGES + " items on the async stub, to its summary") {
    @Override
    Runnable operation(Channel channel) {
      ItemServiceGrpc.ItemServiceStub stub = ItemServiceGrpc.newStub(channel);
      return () -> ItemCalls.uploadItems(stub);
    }
  };

  // The call's own work cannot be optimized away, so the items need not go anywhere.
  private static final Consumer<Item> IGNORE = item -> {};

  private final String cliName;
  private final String description;

  PairedScenario(String cliName, String description) {
    this.cliName = cliName;
    this.description = description;
  }

  /** Its name on the command line. */
  String cliName() {
    return cliName;
  }

  /** What one operation is, for the output. */
  String description() {
    return description;
  }

  /** Returns one operation of this scenario on {@code channel}, to be run again and again. */
  abstract Runnable operation(Channel channel);

  static Optional<PairedScenario> fromCliName(String name) {
    return Arrays.stream(values()).filter(s -> s.cliName.equals(name)).findFirst();
  }

  /** The names, as "unary, list-items, upload-items". */
  static String cliNames() {
    return Arrays.stream(values()).map(PairedScenario::cliName).collect(Collectors.joining(", "));
  }
}
