package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Metadata;
import io.grpc.Status;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Callbacks from several threads reach the application one at a time, and none after onClose. */
class SerializedListenerTest {

  @Test
  void aCallbackArrivingDuringAnotherWaitsForItAndRunsAfterIt() throws Exception {
    CountDownLatch insideFirst = new CountDownLatch(1);
    CountDownLatch releaseFirst = new CountDownLatch(1);
    RecordingListener<String> recorder = new RecordingListener<>();
    SerializedListener<String> listener =
        new SerializedListener<>(
            new io.grpc.ForwardingClientCallListener.SimpleForwardingClientCallListener<String>(
                recorder) {
              @Override
              public void onMessage(String message) {
                super.onMessage(message);
                if (message.equals("first")) {
                  insideFirst.countDown();
                  try {
                    releaseFirst.await(10, TimeUnit.SECONDS);
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                }
              }
            });
    Thread first = new Thread(() -> listener.onMessage("first"));
    first.start();
    assertThat(insideFirst.await(10, TimeUnit.SECONDS)).isTrue();
    // Another thread delivers while "first" runs: queued, and this thread returns at once.
    listener.onReady();
    listener.onClose(Status.OK, new Metadata());
    listener.onMessage("after close");
    assertThat(recorder.events()).containsExactly("message");
    releaseFirst.countDown();
    first.join(10_000);

    assertThat(recorder.events()).containsExactly("message", "ready", "close");
    assertThat(recorder.messages()).containsExactly("first");
    recorder.assertContractKept();
  }

  @Test
  void onlyTheFirstCloseIsDelivered() {
    RecordingListener<String> recorder = new RecordingListener<>();
    SerializedListener<String> listener = new SerializedListener<>(recorder);
    listener.onHeaders(new Metadata());
    listener.onClose(Status.CANCELLED, new Metadata());
    listener.onClose(Status.OK, new Metadata());
    listener.onReady();
    assertThat(recorder.events()).containsExactly("headers", "close");
    assertThat(recorder.status().getCode()).isEqualTo(Status.Code.CANCELLED);
    recorder.assertContractKept();
  }
}
