package io.github.grpcretry;

import static io.github.grpcretry.Fixtures.UPLOAD;
import static io.github.grpcretry.Fixtures.item;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.grpcretry.demo.DemoItemService;
import io.github.grpcretry.demo.v1.Item;
import io.github.grpcretry.demo.v1.UploadSummary;
import io.github.grpcretry.testing.Fault;
import io.github.grpcretry.testing.FaultInjector;
import io.github.grpcretry.testing.GrpcServerExtension;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Many client streams at once, failing at random, with the application sending from one thread
 * while another asks for responses and the channel's threads deliver callbacks. Real threads and
 * real (tiny) backoffs: the assertions are on what arrived, never on how long it took.
 */
class ConcurrencyStressTest {
  private static final int CALLS = 200;
  private static final int MESSAGES = 20;

  @RegisterExtension final GrpcServerExtension grpc = GrpcServerExtension.create().directExecutor(false);
  private final ExecutorService threads = Executors.newFixedThreadPool(4);

  @AfterEach
  void tearDown() throws InterruptedException {
    threads.shutdownNow();
    assertThat(threads.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void everyCallEndsOnceAndNoMessageIsLostOrDuplicated() throws Exception {
    FaultInjector faults = FaultInjector.create();
    faults.script(UPLOAD).otherwise(Fault.randomly(0.3, 2024, Fault.fail(Status.UNAVAILABLE)));
    grpc.addService(new DemoItemService()).addServerInterceptor(faults);
    RetryPolicy policy =
        RetryPolicy.newBuilder()
            .maxAttempts(5)
            .initialBackoff(Duration.ofNanos(1_000))
            .maxBackoff(Duration.ofMillis(1))
            .build();
    RetryInterceptor retry = RetryInterceptor.newBuilder().defaultPolicy(policy).build();
    // The default budget (this interceptor's own, per authority) is part of what is stressed.
    Channel channel =
        ClientInterceptors.intercept(
            grpc.newChannel(b -> b.overrideAuthority("stress.example")), retry);

    List<RecordingListener<UploadSummary>> listeners = new ArrayList<>();
    List<Future<?>> work = new ArrayList<>();
    for (int c = 0; c < CALLS; c++) {
      RecordingListener<UploadSummary> listener = new RecordingListener<>();
      listeners.add(listener);
      ClientCall<Item, UploadSummary> call = channel.newCall(UPLOAD, CallOptions.DEFAULT);
      call.start(listener, new Metadata());
      int callNumber = c;
      work.add(threads.submit(() -> call.request(1)));
      work.add(
          threads.submit(
              () -> {
                for (int m = 0; m < MESSAGES; m++) {
                  call.sendMessage(item(callNumber + "-" + m));
                }
                call.halfClose();
              }));
    }
    for (Future<?> f : work) {
      f.get(30, TimeUnit.SECONDS);
    }

    int succeeded = 0;
    for (int c = 0; c < CALLS; c++) {
      RecordingListener<UploadSummary> listener = listeners.get(c);
      Status status = listener.awaitClose();
      listener.assertContractKept();
      if (status.isOk()) {
        succeeded++;
        UploadSummary summary = listener.messages().get(0);
        List<String> expected = new ArrayList<>();
        for (int m = 0; m < MESSAGES; m++) {
          expected.add(c + "-" + m);
        }
        assertThat(summary.getIdsList()).as("call %d", c).isEqualTo(expected);
      } else {
        assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(status.getDescription()).contains("maxAttempts (5) reached");
      }
    }
    // With 30% independent failures and 5 attempts, all but about 0.24% of calls succeed.
    assertThat(succeeded).isGreaterThan(CALLS * 9 / 10);
    assertThat(retry.bufferedBytes()).isZero();
  }
}
