package io.github.grpcretry.testing;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/** Collects what a stub delivers to a response observer, and lets a test wait for the end. */
final class TestObserver<T> implements StreamObserver<T> {
  static final Duration REAL_TIMEOUT = Duration.ofSeconds(10);

  private final List<T> values = new ArrayList<>(); // guarded by this
  private final CompletableFuture<Throwable> error = new CompletableFuture<>();
  private final CompletableFuture<Status> done = new CompletableFuture<>();

  @Override
  public synchronized void onNext(T value) {
    values.add(value);
  }

  @Override
  public void onError(Throwable t) {
    error.complete(t);
    done.complete(Status.fromThrowable(t));
  }

  @Override
  public void onCompleted() {
    done.complete(Status.OK);
  }

  /** Waits, up to {@link #REAL_TIMEOUT}, for the call to end and returns its status. */
  Status awaitStatus() throws Exception {
    return done.get(REAL_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** Returns the trailers of a failed call, once it ended. */
  @Nullable Metadata trailers() {
    Throwable t = error.getNow(null);
    return t == null ? null : Status.trailersFromThrowable(t);
  }

  boolean isDone() {
    return done.isDone();
  }

  synchronized List<T> values() {
    return List.copyOf(values);
  }
}
