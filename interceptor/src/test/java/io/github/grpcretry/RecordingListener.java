package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * A listener that records every callback and checks the {@link ClientCall.Listener} contract as it
 * goes: callbacks never overlap, nothing arrives after {@code onClose}, and {@code onClose} comes
 * exactly once. A breach is recorded and reported by {@link #assertContractKept()}.
 */
final class RecordingListener<RespT> extends ClientCall.Listener<RespT> {
  private final AtomicBoolean inCallback = new AtomicBoolean();
  private final CountDownLatch closedLatch = new CountDownLatch(1);
  private final List<String> events = new ArrayList<>();
  private final List<RespT> messages = new ArrayList<>();
  private final List<String> breaches = new ArrayList<>();
  private @Nullable Status status;
  private @Nullable Metadata trailers;
  private @Nullable Metadata headers;
  private int closes;
  private int readies;
  private final List<String> threads = new ArrayList<>();

  private void enter(String event) {
    if (!inCallback.compareAndSet(false, true)) {
      synchronized (this) {
        breaches.add("callbacks overlapped at " + event);
      }
    }
    synchronized (this) {
      if (closes > 0) {
        breaches.add(event + " after onClose");
      }
      events.add(event);
      threads.add(Thread.currentThread().getName());
    }
  }

  private void exit() {
    inCallback.set(false);
  }

  @Override
  public void onHeaders(Metadata headers) {
    enter("headers");
    synchronized (this) {
      this.headers = headers;
    }
    exit();
  }

  @Override
  public void onMessage(RespT message) {
    enter("message");
    synchronized (this) {
      messages.add(message);
      notifyAll();
    }
    exit();
  }

  /** Waits (real time, bounded) until {@code count} messages have arrived. */
  synchronized void awaitMessages(int count) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (messages.size() < count) {
      long left = end - System.nanoTime();
      assertThat(left).as("%d message(s) within 10 s", count).isPositive();
      TimeUnit.NANOSECONDS.timedWait(this, left);
    }
  }

  @Override
  public void onReady() {
    enter("ready");
    synchronized (this) {
      readies++;
    }
    exit();
  }

  @Override
  public void onClose(Status status, Metadata trailers) {
    enter("close");
    synchronized (this) {
      closes++;
      if (closes > 1) {
        breaches.add("onClose delivered " + closes + " times");
      }
      this.status = status;
      this.trailers = trailers;
    }
    exit();
    closedLatch.countDown();
  }

  /** Waits (real time, bounded) for onClose and returns its status. */
  Status awaitClose() throws InterruptedException {
    assertThat(closedLatch.await(10, TimeUnit.SECONDS)).as("onClose within 10 s").isTrue();
    return status();
  }

  boolean isClosed() {
    return closedLatch.getCount() == 0;
  }

  /** Waits a bounded real time for onClose, for tests asserting it does not come. */
  boolean closesWithin(Duration wait) throws InterruptedException {
    return closedLatch.await(wait.toMillis(), TimeUnit.MILLISECONDS);
  }

  synchronized Status status() {
    assertThat(status).as("closed").isNotNull();
    return status;
  }

  synchronized Metadata trailers() {
    return trailers;
  }

  synchronized @Nullable Metadata headers() {
    return headers;
  }

  synchronized List<RespT> messages() {
    return new ArrayList<>(messages);
  }

  synchronized List<String> events() {
    return new ArrayList<>(events);
  }

  synchronized List<String> threads() {
    return new ArrayList<>(threads);
  }

  synchronized int readyCount() {
    return readies;
  }

  /** Fails if any callback overlapped another, came after onClose, or onClose came twice. */
  synchronized void assertContractKept() {
    assertThat(breaches).as("listener contract breaches").isEmpty();
  }
}
