package io.github.grpcretry;

import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * A call that ends with a fixed status as soon as it starts, without reaching the channel: what a
 * method that the interceptor cannot serve as configured gets, so that the stub reports it as it
 * reports any failed call.
 */
final class FailingCall<ReqT, RespT> extends ClientCall<ReqT, RespT> {
  private final Status status;

  FailingCall(Status status) {
    this.status = status;
  }

  @Override
  public void start(Listener<RespT> responseListener, Metadata headers) {
    responseListener.onClose(status, new Metadata());
  }

  @Override
  public void request(int numMessages) {}

  @Override
  public void cancel(@Nullable String message, @Nullable Throwable cause) {}

  @Override
  public void halfClose() {}

  @Override
  public void sendMessage(ReqT message) {}

  @Override
  public String toString() {
    return "FailingCall{" + status + '}';
  }
}
