package io.github.grpcretry.examples.serviceconfig;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.CreateItemRequest;
import io.github.grpcretry.demo.v1.GetItemRequest;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.demo.v1.PutItemRequest;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.ClientInterceptors;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The JSON file and the builder code of the example make the same attempts, method by method. */
class ServiceConfigExampleTest {
  private final FaultInjector faults = FaultInjector.create();

  @RegisterExtension
  final GrpcServerExtension grpc =
      GrpcServerExtension.create().addService(new DemoItemService()).addServerInterceptor(faults);

  private int[] attemptsThrough(RetryInterceptor interceptor) {
    MethodDescriptor<?, ?>[] methods = {
      ItemServiceGrpc.getGetItemMethod(),
      ItemServiceGrpc.getPutItemMethod(),
      ItemServiceGrpc.getCreateItemMethod()
    };
    faults.reset();
    for (MethodDescriptor<?, ?> method : methods) {
      faults.script(method).otherwise(Fault.fail(Status.UNAVAILABLE));
    }
    ItemServiceGrpc.ItemServiceBlockingStub stub =
        ItemServiceGrpc.newBlockingStub(ClientInterceptors.intercept(grpc.channel(), interceptor));
    assertThatThrownBy(() -> stub.getItem(GetItemRequest.newBuilder().setId("g").build()))
        .isInstanceOf(StatusRuntimeException.class);
    assertThatThrownBy(
            () -> stub.putItem(PutItemRequest.newBuilder().setItem(Item.newBuilder().setId("p")).build()))
        .isInstanceOf(StatusRuntimeException.class);
    assertThatThrownBy(
            () ->
                stub.createItem(
                    CreateItemRequest.newBuilder().setItem(Item.newBuilder().setId("c")).build()))
        .isInstanceOf(StatusRuntimeException.class);
    int[] attempts = new int[methods.length];
    for (int i = 0; i < methods.length; i++) {
      attempts[i] = faults.attemptCount(methods[i]);
    }
    return attempts;
  }

  @Test
  void theJsonAndTheBuilderCodeAreTheSamePolicies() throws Exception {
    int[] fromJson = attemptsThrough(ServiceConfigClient.fromServiceConfig());
    int[] fromBuilder = attemptsThrough(ServiceConfigClient.fromBuilder());
    assertThat(fromJson).containsExactly(5, 2, 1);
    assertThat(fromBuilder).containsExactly(fromJson);
  }
}
