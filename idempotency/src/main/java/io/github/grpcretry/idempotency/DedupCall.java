package io.github.grpcretry.idempotency;

import io.grpc.Context;
import io.grpc.ForwardingServerCall;
import io.grpc.KnownLength;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.util.Arrays;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * One keyed request: reads it whole, asks the store, and then executes it as the key's owner,
 * replays a kept outcome, waits for the request that holds the key, or refuses it.
 *
 * <p>States, forward only: {@code READING} (until half-close) → {@code LOOKING} (store asked) →
 * {@code WAITING} (another request holds the key; back to {@code LOOKING} if it gives up) or
 * {@code EXECUTING} (the handler runs, events pass to it) or {@code DONE} (replayed, refused, or the
 * call ended first).
 *
 * <p>Threading: gRPC's listener events, the store's answers and the ends of waits all run through
 * one {@link Serializer}, so the state is confined to it. The handler calls the {@link OwnerCall}
 * one thread at a time, as gRPC requires of any handler; what it shares with the serialized side
 * (whether the handler closed, whether the claim is finished) is atomic.
 */
final class DedupCall<ReqT, RespT> extends ServerCall.Listener<ReqT> {
  private static final Logger logger = Logger.getLogger(DedupCall.class.getName());

  private enum State {
    READING,
    LOOKING,
    WAITING,
    EXECUTING,
    DONE
  }

  private final IdempotencyInterceptor config;
  private final ServerCall<ReqT, RespT> call;
  private final Metadata headers;
  private final ServerCallHandler<ReqT, RespT> next;
  private final IdempotencyKey key;
  private final Context context;
  private final Serializer serializer = new Serializer();

  // Confined to the serializer.
  private State state = State.READING;
  private @Nullable ReqT request;
  private boolean tooManyRequests;
  private byte @Nullable [] requestHash;
  private boolean ready;
  private ServerCall.@Nullable Listener<ReqT> handler;
  private @Nullable OwnerCall owner;
  private @Nullable CompletableFuture<@Nullable Lookup> waiting;

  DedupCall(
      IdempotencyInterceptor config,
      ServerCall<ReqT, RespT> call,
      Metadata headers,
      ServerCallHandler<ReqT, RespT> next,
      IdempotencyKey key,
      Context context) {
    this.config = config;
    this.call = call;
    this.headers = headers;
    this.next = next;
    this.key = key;
    this.context = context;
  }

  // gRPC's listener events.

  @Override
  public void onMessage(ReqT message) {
    serializer.run(() -> handleMessage(message));
  }

  @Override
  public void onHalfClose() {
    serializer.run(this::handleHalfClose);
  }

  @Override
  public void onReady() {
    serializer.run(this::handleReady);
  }

  @Override
  public void onCancel() {
    serializer.run(this::handleCancel);
  }

  @Override
  public void onComplete() {
    serializer.run(
        () -> {
          if (state == State.EXECUTING) {
            deliver(ServerCall.Listener::onComplete);
          }
        });
  }

  private void handleMessage(ReqT message) {
    if (state != State.READING) {
      return;
    }
    if (request == null) {
      request = message;
    } else {
      tooManyRequests = true;
    }
  }

  private void handleHalfClose() {
    if (state != State.READING) {
      return;
    }
    ReqT message = request;
    if (message == null || tooManyRequests) {
      // What grpc-java's own unary handlers answer.
      refuse(
          Status.INTERNAL.withDescription(
              message == null ? "Half-closed without a request" : "Too many requests"));
      return;
    }
    try {
      requestHash =
          Outcomes.requestHash(call.getMethodDescriptor().getRequestMarshaller(), message);
    } catch (RuntimeException e) {
      refuse(Status.INTERNAL.withDescription("the request could not be hashed").withCause(e));
      return;
    }
    begin();
  }

  private void handleReady() {
    if (state == State.EXECUTING) {
      deliver(ServerCall.Listener::onReady);
    } else {
      ready = true;
    }
  }

  private void handleCancel() {
    switch (state) {
      case EXECUTING:
        deliver(ServerCall.Listener::onCancel);
        OwnerCall holder = owner;
        if (holder != null) {
          holder.callEnded();
        }
        return;
      case WAITING:
        CompletableFuture<@Nullable Lookup> wait = waiting;
        waiting = null;
        if (wait != null) {
          wait.cancel(false);
        }
        state = State.DONE;
        return;
      default:
        // A lookup in progress finds DONE and gives back a claim it brings.
        state = State.DONE;
        request = null;
    }
  }

  // The store.

  private void begin() {
    state = State.LOOKING;
    CompletableFuture<Lookup> lookup;
    try {
      lookup = config.store.begin(key, hash()).toCompletableFuture();
    } catch (RuntimeException e) {
      storeFailed(e);
      return;
    }
    if (lookup.isDone()) {
      Lookup answer;
      try {
        answer = lookup.join();
      } catch (CompletionException | CancellationException e) {
        storeFailed(e.getCause() != null ? e.getCause() : e);
        return;
      }
      onLookup(answer);
    } else {
      lookup.whenComplete(
          (answer, error) ->
              resume(
                  () -> {
                    if (error != null) {
                      if (state == State.LOOKING) {
                        storeFailed(error);
                      }
                    } else {
                      onLookup(answer);
                    }
                  }));
    }
  }

  private void onLookup(Lookup lookup) {
    if (state != State.LOOKING) {
      // The call ended while the store was asked: nobody is left to execute for.
      if (lookup.kind() == Lookup.Kind.CLAIMED) {
        lookup.claim().release();
      } else if (lookup.kind() == Lookup.Kind.IN_FLIGHT) {
        lookup.next().cancel(false);
      }
      return;
    }
    switch (lookup.kind()) {
      case CLAIMED:
        execute(lookup.claim());
        return;
      case COMPLETED:
        if (Arrays.equals(hash(), lookup.requestHash())) {
          replay(lookup.outcome());
        } else {
          refuseMismatch();
        }
        return;
      case IN_FLIGHT:
        if (!Arrays.equals(hash(), lookup.requestHash())) {
          lookup.next().cancel(false);
          refuseMismatch();
          return;
        }
        state = State.WAITING;
        CompletableFuture<@Nullable Lookup> wait = lookup.next();
        waiting = wait;
        wait.whenComplete((answer, error) -> resume(() -> onWaitOver(wait, answer, error)));
        return;
    }
  }

  private void onWaitOver(
      CompletableFuture<@Nullable Lookup> wait, @Nullable Lookup answer, @Nullable Throwable error) {
    if (state != State.WAITING || waiting != wait) {
      return;
    }
    waiting = null;
    if (error != null) {
      storeFailed(error);
    } else if (answer == null) {
      begin(); // the holder gave the key up: claim it, or wait for whoever did
    } else {
      state = State.LOOKING;
      onLookup(answer);
    }
  }

  /** Runs {@code task} in the serializer, on the interceptor's executor. */
  private void resume(Runnable task) {
    try {
      config.executor.execute(() -> serializer.run(task));
    } catch (RejectedExecutionException e) {
      serializer.run(task);
    }
  }

  // The three ends: execute, replay, refuse.

  private void execute(IdempotencyStore.Claim claim) {
    state = State.EXECUTING;
    ReqT message = request;
    request = null;
    OwnerCall holder = new OwnerCall(claim);
    owner = holder;
    Context previous = context.attach();
    try {
      ServerCall.Listener<ReqT> listener = next.startCall(holder, headers);
      handler = listener;
      listener.onMessage(message);
      listener.onHalfClose();
      if (ready) {
        listener.onReady();
      }
    } catch (RuntimeException | Error t) {
      holder.handlerFailed(t);
    } finally {
      context.detach(previous);
    }
  }

  private void deliver(Consumer<ServerCall.Listener<ReqT>> event) {
    ServerCall.Listener<ReqT> listener = handler;
    OwnerCall holder = owner;
    if (listener == null || holder == null) {
      return;
    }
    Context previous = context.attach();
    try {
      event.accept(listener);
    } catch (RuntimeException | Error t) {
      holder.handlerFailed(t);
    } finally {
      context.detach(previous);
    }
  }

  private void replay(byte[] outcome) {
    state = State.DONE;
    Outcomes.Decoded decoded;
    try {
      decoded = Outcomes.decode(outcome);
    } catch (IllegalArgumentException e) {
      logger.log(Level.WARNING, "the stored outcome of " + key + " cannot be read", e);
      refuse(
          Status.INTERNAL.withDescription(
              "the stored outcome of " + describeKey() + " cannot be read: " + e.getMessage()));
      return;
    }
    MethodDescriptor<ReqT, RespT> method = call.getMethodDescriptor();
    boolean closed = false;
    try {
      if (decoded.headers != null || !decoded.messages.isEmpty()) {
        call.sendHeaders(decoded.headers != null ? decoded.headers : new Metadata());
      }
      for (byte[] message : decoded.messages) {
        call.sendMessage(method.parseResponse(new KnownLengthBytes(message)));
      }
      Metadata trailers = decoded.trailers;
      trailers.put(IdempotencyInterceptor.REPLAYED_KEY, "true");
      closed = true;
      call.close(decoded.status, trailers);
    } catch (RuntimeException e) {
      logger.log(Level.WARNING, "the stored outcome of " + key + " could not be replayed", e);
      if (!closed) {
        closeQuietly(
            Status.INTERNAL
                .withDescription("the stored outcome of " + describeKey() + " cannot be replayed")
                .withCause(e));
      }
    }
  }

  private void refuseMismatch() {
    refuse(
        Status.INVALID_ARGUMENT.withDescription(
            describeKey()
                + " was already used for a different request: this request differs from the first"
                + " one sent with this key; send a new key with a new request"));
  }

  private void storeFailed(Throwable error) {
    logger.log(Level.WARNING, "the idempotency store failed for " + key, error);
    refuse(
        Status.UNAVAILABLE
            .withDescription(
                "the idempotency store could not be asked about " + describeKey() + ": " + error)
            .withCause(error));
  }

  private void refuse(Status status) {
    state = State.DONE;
    request = null;
    closeQuietly(status);
  }

  private void closeQuietly(Status status) {
    try {
      call.close(status, new Metadata());
    } catch (RuntimeException e) {
      // Closed already (a race with the transport): nobody is left to tell.
      logger.log(Level.FINE, "could not close " + key, e);
    }
  }

  /** Bytes whose length a marshaller can see: protobuf's then parses them without a copy. */
  private static final class KnownLengthBytes extends ByteArrayInputStream implements KnownLength {
    KnownLengthBytes(byte[] bytes) {
      super(bytes);
    }
  }

  private String describeKey() {
    return config.headerKey.name() + " \"" + key.key() + "\" of " + key.fullMethodName();
  }

  private byte[] hash() {
    byte[] hash = requestHash;
    if (hash == null) {
      throw new IllegalStateException("no request hash before half-close");
    }
    return hash;
  }

  /**
   * The call as the owner's handler sees it: records the outcome while passing it on, and hands it
   * to the claim when the handler closes.
   */
  private final class OwnerCall extends ForwardingServerCall.SimpleForwardingServerCall<ReqT, RespT> {
    private final IdempotencyStore.Claim claim;
    private final Outcomes.Recorder recorder;
    private final AtomicBoolean finished = new AtomicBoolean();
    private volatile boolean handlerClosed;
    private volatile boolean callOver;
    private volatile @Nullable ScheduledFuture<?> graceTimer;

    OwnerCall(IdempotencyStore.Claim claim) {
      super(call);
      this.claim = claim;
      this.recorder = new Outcomes.Recorder(config.maxResponseBytes);
    }

    @Override
    public void request(int numMessages) {
      // The request was read whole before the handler started; there is nothing more.
    }

    @Override
    public void sendHeaders(Metadata responseHeaders) {
      recorder.headers(responseHeaders); // read now: the transport changes the object it sends
      forward(() -> super.sendHeaders(responseHeaders));
    }

    @Override
    public void sendMessage(RespT message) {
      recorder.message(call.getMethodDescriptor().getResponseMarshaller(), message);
      forward(() -> super.sendMessage(message));
    }

    @Override
    public void close(Status status, Metadata trailers) {
      handlerClosed = true;
      byte[] outcome = config.stores(status.getCode()) ? recorder.close(status, trailers) : null;
      // Kept before the caller hears of it, so that a duplicate sent after the answer finds it.
      finish(outcome);
      forward(() -> super.close(status, trailers));
    }

    /**
     * Passes a response on to the caller, unless the caller is gone: a handler that outlives its
     * call (cancelled by a per-attempt timeout, say) still answers the duplicates waiting for it,
     * and some transports refuse writes to a cancelled call.
     */
    private void forward(Runnable send) {
      if (callOver) {
        return;
      }
      try {
        send.run();
      } catch (RuntimeException e) {
        if (!isCancelled()) {
          throw e;
        }
      }
    }

    /** The call ended before the handler closed it: give the handler its grace period. */
    void callEnded() {
      callOver = true;
      if (handlerClosed || finished.get()) {
        return;
      }
      if (config.handlerGraceNanos == 0) {
        finish(null);
        return;
      }
      try {
        graceTimer =
            config.scheduler.schedule(
                () -> finish(null), config.handlerGraceNanos, TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        finish(null);
      }
      if (finished.get()) {
        cancelGraceTimer();
      }
    }

    void handlerFailed(Throwable t) {
      logger.log(Level.WARNING, "the handler of " + key + " failed", t);
      finish(null);
      if (!handlerClosed) {
        handlerClosed = true;
        closeQuietly(
            Status.UNKNOWN.withDescription("Application error processing RPC").withCause(t));
      }
    }

    private void finish(byte @Nullable [] outcome) {
      if (!finished.compareAndSet(false, true)) {
        return;
      }
      cancelGraceTimer();
      try {
        if (outcome != null) {
          claim.complete(outcome);
        } else {
          claim.release();
        }
      } catch (RuntimeException e) {
        logger.log(Level.WARNING, "the idempotency store failed to finish " + key, e);
      }
    }

    private void cancelGraceTimer() {
      ScheduledFuture<?> timer = graceTimer;
      if (timer != null) {
        timer.cancel(false);
      }
    }
  }
}
