package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.LIST;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.MethodDescriptor;
import io.grpc.stub.ClientCalls;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A policy for a method name its service does not have (a typo) never applies; the interceptor
 * says so once, at WARNING, when the service is first called and its descriptor tells.
 */
class UnknownMethodWarningTest {
  private static final String SERVICE = ItemServiceGrpc.SERVICE_NAME;

  @RegisterExtension
  final GrpcServerExtension grpc = GrpcServerExtension.create().addService(new DemoItemService());

  private final ManualClock clock = ManualClock.create();
  private final Logger logger = Logger.getLogger(RetryInterceptor.class.getName());
  private final List<LogRecord> records = new ArrayList<>();
  private final Handler handler =
      new Handler() {
        @Override
        public void publish(LogRecord record) {
          synchronized (records) {
            records.add(record);
          }
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      };

  @BeforeEach
  void listen() {
    logger.addHandler(handler);
  }

  @AfterEach
  void stopListening() {
    logger.removeHandler(handler);
  }

  private List<String> warnings() {
    synchronized (records) {
      return records.stream()
          .filter(r -> r.getLevel() == Level.WARNING)
          .map(LogRecord::getMessage)
          .toList();
    }
  }

  private void callGetTwiceAndList(RetryInterceptor retry) {
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    ItemServiceGrpc.ItemServiceBlockingStub stub = ItemServiceGrpc.newBlockingStub(channel);
    stub.getItem(get("a"));
    stub.getItem(get("b"));
    Iterator<Item> items = stub.listItems(ListItemsRequest.newBuilder().setLimit(1).build());
    items.forEachRemaining(item -> {});
  }

  @Test
  void aMisspeltMethodIsReportedOnceWhenItsServiceIsFirstCalled() {
    RetryInterceptor retry =
        retryOn(clock)
            .methodPolicy(SERVICE + "/GetItm", Fixtures.policy(3).build())
            .methodPolicy(SERVICE + "/GetItem", Fixtures.policy(3).build())
            .methodPolicy("other.v1.Unrelated/Anything", Fixtures.policy(3).build())
            .build();

    callGetTwiceAndList(retry);

    assertThat(warnings())
        .containsExactly(
            "grpc-retry: policies were given for methods that service grpcretry.demo.v1.ItemService"
                + " does not have, so they never apply: GetItm. Its methods are CreateItem,"
                + " GetItem, ListItems, PutItem, SyncItems, UploadItems. Check the names given to"
                + " methodPolicy or in the service config.");
  }

  @Test
  void aMisspeltMethodInAServiceConfigIsReportedToo() {
    String json =
        "{\"methodConfig\": [{\"name\": [{\"service\": \""
            + SERVICE
            + "\", \"method\": \"ListItem\"}], \"timeout\": \"5s\"}]}";

    callGetTwiceAndList(retryOn(clock).serviceConfig(json).build());

    assertThat(warnings()).singleElement().asString().contains("never apply: ListItem.");
  }

  @Test
  void namesThatExistAreNotReported() {
    RetryInterceptor retry =
        retryOn(clock)
            .methodPolicy(GET, Fixtures.policy(3).build())
            .methodPolicy(LIST.getFullMethodName(), Fixtures.policy(2).build())
            .servicePolicy(SERVICE, Fixtures.policy(2).build())
            .build();

    callGetTwiceAndList(retry);

    assertThat(warnings()).isEmpty();
  }

  @Test
  void withoutADescriptorNothingIsKnownAndNothingIsSaid() {
    MethodDescriptor<?, ?> plain = GET.toBuilder().setSchemaDescriptor(null).build();
    RetryInterceptor retry =
        retryOn(clock).methodPolicy(SERVICE + "/GetItm", Fixtures.policy(3).build()).build();
    Channel channel = ClientInterceptors.intercept(grpc.channel(), retry);
    @SuppressWarnings("unchecked")
    MethodDescriptor<io.github.grpcretry.demo.v1.GetItemRequest, Item> getWithoutSchema =
        (MethodDescriptor<io.github.grpcretry.demo.v1.GetItemRequest, Item>) plain;

    ClientCalls.blockingUnaryCall(channel, getWithoutSchema, CallOptions.DEFAULT, get("a"));
    assertThat(warnings()).isEmpty();

    // The service is checked when a call does carry its descriptor.
    ItemServiceGrpc.newBlockingStub(channel).getItem(get("b"));
    assertThat(warnings()).singleElement().asString().contains("never apply: GetItm.");
  }
}
