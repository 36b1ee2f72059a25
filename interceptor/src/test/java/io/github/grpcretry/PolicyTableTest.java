package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.CREATE;
import static io.github.grpcretry.Fixtures.GET;
import static io.github.grpcretry.Fixtures.LIST;
import static io.github.grpcretry.Fixtures.PUT;
import static io.github.grpcretry.Fixtures.get;
import static io.github.grpcretry.Fixtures.item;
import static io.github.grpcretry.Fixtures.retryOn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.ListItemsRequest;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.github.grpcretry.testing.ManualClock;
import io.grpc.ClientInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Iterator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Per-method, per-service and default policies, and the per-call override. */
class PolicyTableTest {
  private static final String SERVICE = ItemServiceGrpc.SERVICE_NAME;

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create();
  private final ManualClock clock = ManualClock.create();
  private final FaultInjector faults = FaultInjector.create(clock);

  @BeforeEach
  void setUp() {
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    // pushback 0: every retry goes out at once, so only the policies limit the attempts.
    for (String method : new String[] {GET.getFullMethodName(), PUT.getFullMethodName(),
        CREATE.getFullMethodName(), LIST.getFullMethodName()}) {
      faults.script(method).otherwise(Fault.fail(Status.UNAVAILABLE).withPushback(0));
    }
  }

  private static RetryPolicy attempts(int n) {
    return RetryPolicy.newBuilder().maxAttempts(n).build();
  }

  private ItemServiceGrpc.ItemServiceBlockingStub stub(RetryInterceptor retry) {
    return ItemServiceGrpc.newBlockingStub(ClientInterceptors.intercept(grpc.channel(), retry));
  }

  private static void fails(Runnable call) {
    assertThatThrownBy(call::run).isInstanceOf(StatusRuntimeException.class);
  }

  @Test
  void theMostSpecificPolicyWins() {
    RetryInterceptor retry =
        retryOn(clock)
            .defaultPolicy(attempts(2))
            .servicePolicy(SERVICE, attempts(3))
            .methodPolicy(GET, attempts(4))
            .methodPolicy(PUT.getFullMethodName(), attempts(5))
            .build();
    ItemServiceGrpc.ItemServiceBlockingStub stub = stub(retry);
    fails(() -> stub.getItem(get("a")));
    fails(() -> stub.putItem(PutItemRequest.newBuilder().setItem(item("p")).build()));
    fails(() -> stub.createItem(CreateItemRequest.newBuilder().setItem(item("c")).build()));
    assertThat(faults.attemptCount(GET)).isEqualTo(4);
    assertThat(faults.attemptCount(PUT)).isEqualTo(5);
    assertThat(faults.attemptCount(CREATE)).isEqualTo(3);
    assertThat(retry.policyFor(GET)).isSameAs(retry.policyFor(GET));
  }

  @Test
  void methodsWithoutAnyPolicyPassThrough() {
    RetryInterceptor retry = retryOn(clock).methodPolicy(GET, attempts(3)).build();
    ItemServiceGrpc.ItemServiceBlockingStub stub = stub(retry);
    fails(() -> stub.createItem(CreateItemRequest.newBuilder().setItem(item("c")).build()));
    assertThat(faults.attemptCount(CREATE)).isEqualTo(1);
    assertThat(retry.policyFor(CREATE)).isNull();
  }

  @Test
  void aCallCanOverrideOrTurnOffItsPolicy() {
    RetryInterceptor retry = retryOn(clock).defaultPolicy(attempts(4)).build();
    ItemServiceGrpc.ItemServiceBlockingStub stub = stub(retry);
    fails(() -> stub.withOption(RetryInterceptor.POLICY, RetryPolicy.noRetry()).getItem(get("a")));
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    fails(() -> stub.withOption(RetryInterceptor.POLICY, attempts(2)).getItem(get("b")));
    assertThat(faults.attemptCount(GET)).isEqualTo(3);
  }

  @Test
  void someCodesAreRetriedOnlyForMethodsThatAreSafeToRepeat() {
    for (String method : new String[] {GET.getFullMethodName(), PUT.getFullMethodName(),
        CREATE.getFullMethodName(), LIST.getFullMethodName()}) {
      faults.script(method).otherwise(Fault.fail(Status.ABORTED).withPushback(0));
    }
    RetryPolicy policy =
        RetryPolicy.newBuilder()
            .maxAttempts(3)
            .retryableStatusCodes(Status.Code.UNAVAILABLE)
            .idempotentRetryableStatusCodes(Status.Code.ABORTED)
            .build();
    ItemServiceGrpc.ItemServiceBlockingStub stub = stub(retryOn(clock).defaultPolicy(policy).build());
    fails(() -> stub.getItem(get("a"))); // NO_SIDE_EFFECTS
    fails(() -> stub.putItem(PutItemRequest.newBuilder().setItem(item("p")).build())); // IDEMPOTENT
    fails(() -> stub.createItem(CreateItemRequest.newBuilder().setItem(item("c")).build()));
    Iterator<?> items = stub.listItems(ListItemsRequest.getDefaultInstance()); // NO_SIDE_EFFECTS
    fails(items::hasNext);
    assertThat(faults.attemptCount(GET)).isEqualTo(3);
    assertThat(faults.attemptCount(PUT)).isEqualTo(3);
    assertThat(faults.attemptCount(CREATE)).isEqualTo(1);
    assertThat(faults.attemptCount(LIST)).isEqualTo(3);
  }

  @Test
  void namesAreCheckedWhenGiven() {
    RetryInterceptor.Builder builder = RetryInterceptor.newBuilder();
    RetryPolicy p = attempts(2);
    for (String bad : new String[] {"", "pkg.S/M", "pkg.Svc ", " pkg.Svc", "pkg..Svc", ".Svc"}) {
      assertThatThrownBy(() -> builder.servicePolicy(bad, p))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "service must be a full service name such as \"pkg.Service\": names joined by dots,"
                  + " without '/' or spaces: \""
                  + bad
                  + "\"");
    }
    for (String bad :
        new String[] {
          "nope", "/M", "pkg.S/", "a/b/c", "", "hello.v1.Greeter/SayHello ", "pkg.S/Say Hello",
          "pkg.S /M", "pkg..S/M", "pkg.S/M\n"
        }) {
      assertThatThrownBy(() -> builder.methodPolicy(bad, p))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "fullMethodName must be \"pkg.Service/Method\", without spaces: \"" + bad + "\"");
    }
    // Names of services without a package, and of services that are not protobuf, are names.
    builder.servicePolicy("Greeter", p).methodPolicy("Greeter/SayHello", p);
    builder.methodPolicy("my-team.billing_v2/charge-card", p);
    assertThatThrownBy(() -> builder.maxAttemptsCap(1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxAttemptsCap must be >= 2: 1");
    assertThatThrownBy(() -> builder.methodPolicy((io.grpc.MethodDescriptor<?, ?>) null, p))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("method");
  }

  @Test
  void aTimeoutOnlyPolicyAddsTheDeadlineWithoutRetrying() {
    RetryPolicy timeoutOnly =
        RetryPolicy.newBuilder().maxAttempts(1).timeout(java.time.Duration.ofSeconds(3)).build();
    RetryInterceptor retry = retryOn(clock).defaultPolicy(timeoutOnly).build();
    fails(() -> stub(retry).getItem(get("a")));
    assertThat(faults.attemptCount(GET)).isEqualTo(1);
    assertThat(faults.attempts(GET).get(0).headers().containsKey(
        io.grpc.Metadata.Key.of("grpc-timeout", io.grpc.Metadata.ASCII_STRING_MARSHALLER)))
        .as("the deadline reached the server")
        .isTrue();
  }
}
