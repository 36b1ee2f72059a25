package io.github.grpcretry.testing;

import static io.github.grpcretry.testing.TestObserver.REAL_TIMEOUT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.util.concurrent.ListenableFuture;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.RegisterExtension;

@ExtendWith(GrpcServerExtensionTest.ContextResolver.class)
class GrpcServerExtensionTest {
  private static final GetItemRequest GET_A = GetItemRequest.newBuilder().setId("a").build();

  @RegisterExtension
  final GrpcServerExtension grpc = GrpcServerExtension.create().addService(new DemoItemService());

  /** Hands the real extension context to a test, so it can drive a second extension by hand. */
  static final class ContextResolver implements ParameterResolver {
    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
      return parameter.getParameter().getType() == ExtensionContext.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
      return context;
    }
  }

  @Test
  void channelReachesTheServices() {
    Item item = ItemServiceGrpc.newBlockingStub(grpc.channel()).getItem(GET_A);

    assertThat(item.getValue()).isEqualTo("value-a");
  }

  @Test
  void channelIsCreatedOncePerTestAndNewChannelAddsMore() {
    ManagedChannel channel = grpc.channel();
    ManagedChannel other = grpc.newChannel(builder -> builder.directExecutor().userAgent("t"));

    assertThat(grpc.channel()).isSameAs(channel);
    assertThat(other).isNotSameAs(channel);
    assertThat(ItemServiceGrpc.newBlockingStub(other).getItem(GET_A).getValue())
        .isEqualTo("value-a");
  }

  @Test
  void serverNameIsStableWithinATest() {
    String name = grpc.serverName();

    grpc.channel();

    assertThat(grpc.serverName()).isEqualTo(name).isNotEmpty();
  }

  @Test
  void configurationAfterStartIsRejected() {
    grpc.channel();

    assertThatThrownBy(() -> grpc.addService(new DemoItemService()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "addService must be called before the server starts; it started at this test's"
                + " first channel() or newChannel() call");
    assertThatThrownBy(() -> grpc.addServerInterceptor(FaultInjector.create()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("addServerInterceptor must be called before the server starts");
    assertThatThrownBy(() -> grpc.directExecutor(false))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("directExecutor must be called before the server starts");
  }

  @Test
  void argumentsAreChecked() {
    assertThatThrownBy(() -> grpc.terminationTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeout must be >= 0: PT-1S");
    assertThatThrownBy(() -> grpc.register((ManagedChannel) null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("channel must not be null");
  }

  @Test
  void firstInterceptorAddedIsOutermost(ExtensionContext context) {
    List<String> order = Collections.synchronizedList(new ArrayList<>());
    GrpcServerExtension extension =
        GrpcServerExtension.create()
            .addService(new DemoItemService())
            .addServerInterceptor(named("outer", order))
            .addServerInterceptor(named("inner", order));
    try {
      ItemServiceGrpc.newBlockingStub(extension.channel()).getItem(GET_A);

      assertThat(order).containsExactly("outer", "inner");
    } finally {
      extension.afterEach(context);
    }
  }

  @Test
  void serverMayUseItsOwnExecutor(ExtensionContext context) {
    GrpcServerExtension extension =
        GrpcServerExtension.create().addService(new DemoItemService()).directExecutor(false);
    try {
      assertThat(ItemServiceGrpc.newBlockingStub(extension.channel()).getItem(GET_A).getValue())
          .isEqualTo("value-a");
    } finally {
      extension.afterEach(context);
    }
  }

  @Test
  void afterEachShutsDownEverythingAndTheNextTestStartsFresh(ExtensionContext context)
      throws Exception {
    GrpcServerExtension extension = GrpcServerExtension.create().addService(new DemoItemService());
    ManagedChannel channel = extension.channel();
    ManagedChannel extra = extension.newChannel(builder -> {});
    String otherName = InProcessServerBuilder.generateName();
    Server otherServer =
        extension.register(InProcessServerBuilder.forName(otherName).build().start());
    ManagedChannel otherChannel =
        extension.register(InProcessChannelBuilder.forName(otherName).build());
    String firstName = extension.serverName();

    extension.afterEach(context);

    assertThat(channel.isTerminated()).isTrue();
    assertThat(extra.isTerminated()).isTrue();
    assertThat(otherServer.isTerminated()).isTrue();
    assertThat(otherChannel.isTerminated()).isTrue();

    ManagedChannel next = extension.channel();
    assertThat(extension.serverName()).isNotEqualTo(firstName);
    assertThat(next).isNotSameAs(channel);
    assertThat(ItemServiceGrpc.newBlockingStub(next).getItem(GET_A).getValue())
        .isEqualTo("value-a");
    extension.afterEach(context);
    assertThat(next.isTerminated()).isTrue();
  }

  @Test
  void afterEachFailsTheTestWhenACallIsLeftOpen(ExtensionContext context) throws Exception {
    FaultInjector faults = FaultInjector.create();
    faults.script(ItemServiceGrpc.getGetItemMethod()).then(Fault.hang());
    GrpcServerExtension extension =
        GrpcServerExtension.create()
            .addService(new DemoItemService())
            .addServerInterceptor(faults)
            .terminationTimeout(Duration.ZERO);
    ManagedChannel channel = extension.channel();
    ListenableFuture<Item> call = ItemServiceGrpc.newFutureStub(channel).getItem(GET_A);
    assertThat(faults.awaitAttempts(ItemServiceGrpc.getGetItemMethod(), 1, REAL_TIMEOUT)).isTrue();

    assertThatThrownBy(() -> extension.afterEach(context))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("could not shut down cleanly")
        .hasMessageContaining("did not terminate")
        .hasMessageContaining("A call left open");

    // Forced down all the same: the open call was cancelled and everything terminates.
    assertThat(channel.awaitTermination(REAL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS)).isTrue();
    assertThatThrownBy(() -> call.get(REAL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS))
        .isInstanceOf(ExecutionException.class);
  }

  private static ServerInterceptor named(String name, List<String> order) {
    return new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        order.add(name);
        return next.startCall(call, headers);
      }
    };
  }
}
