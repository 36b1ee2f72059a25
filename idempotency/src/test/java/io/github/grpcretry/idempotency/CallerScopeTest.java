package io.github.grpcretry.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Keys of different callers never meet: each caller's request executes and gets its own answer. */
class CallerScopeTest {
  /** Set by the test's "authentication": the user a bearer token names. */
  private static final Context.Key<String> USER = Context.key("user");
  private static final Metadata.Key<String> TOKEN =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final CountingItemService service = new CountingItemService(timer);

  /** A stand-in for real authentication: "Bearer alice" authenticates alice. */
  private final ServerInterceptor authentication =
      new ServerInterceptor() {
        @Override
        public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
            ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
          String token = headers.get(TOKEN);
          if (token == null || !token.startsWith("Bearer ")) {
            return next.startCall(call, headers);
          }
          Context context = Context.current().withValue(USER, token.substring("Bearer ".length()));
          return Contexts.interceptCall(context, call, headers, next);
        }
      };

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();

  @AfterEach
  void stop() throws InterruptedException {
    timer.shutdownNow();
    assertThat(timer.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  private static ItemServiceGrpc.ItemServiceBlockingStub as(Channel channel, String user) {
    Metadata token = new Metadata();
    token.put(TOKEN, "Bearer " + user);
    return ItemServiceGrpc.newBlockingStub(ClientInterceptors.intercept(channel, new Keys()))
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(token))
        .withOption(Keys.KEY, "same-key")
        .withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  private static CreateItemRequest order(String value) {
    return CreateItemRequest.newBuilder().setItem(Item.newBuilder().setId("a").setValue(value)).build();
  }

  @Test
  void theSameKeyFromTwoCallersExecutesTwiceAndNoResponseCrosses() {
    // Authentication runs first (it is added first, so it is outermost).
    grpc.addService(service)
        .addServerInterceptor(authentication)
        .addServerInterceptor(
            IdempotencyInterceptor.newBuilder()
                .method(ItemServiceGrpc.getCreateItemMethod())
                .callerScope(CallerScope.fromContext(USER, user -> "user:" + user))
                .build());

    Item alice = as(grpc.channel(), "alice").createItem(order("alice's order"));
    Item bob = as(grpc.channel(), "bob").createItem(order("alice's order"));
    Item aliceAgain = as(grpc.channel(), "alice").createItem(order("alice's order"));
    // A third caller's same key with another request is no reuse: the key is new in her scope.
    Item bobOther = as(grpc.channel(), "mallory").createItem(order("mallory's order"));

    assertThat(service.executions("alice's order")).isEqualTo(2);
    assertThat(bob.getId()).isNotEqualTo(alice.getId());
    assertThat(aliceAgain).isEqualTo(alice);
    assertThat(bobOther.getValue()).isEqualTo("mallory's order");
    assertThat(service.total.get()).isEqualTo(3);
  }

  @Test
  void tlsPeerHasNoScopeOnAPlaintextConnectionSoKeyedRequestsAreRefused() throws Exception {
    Server server =
        grpc.register(
            NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .directExecutor()
                .addService(
                    ServerInterceptors.intercept(
                        service,
                        IdempotencyInterceptor.newBuilder()
                            .method(ItemServiceGrpc.getCreateItemMethod())
                            .callerScope(CallerScope.tlsPeer())
                            .build()))
                .build()
                .start());
    ManagedChannel channel =
        grpc.register(
            NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build());

    StatusRuntimeException refused =
        catchThrowableOfType(
            StatusRuntimeException.class, () -> as(channel, "alice").createItem(order("x")));
    Item unkeyed =
        ItemServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .createItem(order("y"));

    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(service.executions("x")).isZero();
    assertThat(unkeyed.getValue()).isEqualTo("y");
  }
}
