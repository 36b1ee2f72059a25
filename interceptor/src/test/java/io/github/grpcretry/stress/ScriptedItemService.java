package io.github.grpcretry.stress;

import com.google.protobuf.Any;
import com.google.rpc.RetryInfo;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.github.grpcretry.stress.AttemptScript.End;
import io.github.grpcretry.stress.AttemptScript.Hint;
import io.github.grpcretry.stress.AttemptScript.Trigger;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.SynchronizationContext;
import io.grpc.protobuf.StatusProto;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The demo {@code ItemService}, acted out from a script: each attempt reads its behaviour from the
 * {@link StressHeaders#SCRIPT} header (entry number {@code grpc-previous-rpc-attempts}) and does
 * exactly that: waits for its trigger, optionally pauses, sends headers and tagged messages, then
 * closes OK, fails with a code and retry hint, or hangs until cancelled.
 *
 * <p>It is written against {@link ServerCall} directly rather than through stubs, to control
 * precisely when headers go out. Each attempt's actions run one at a time in its own {@link
 * SynchronizationContext}, so that the server never holds a lock while it calls into gRPC (an
 * in-process call with direct executors runs the client's whole reaction inside that call).
 *
 * <p>Thread-safe.
 */
final class ScriptedItemService {
  private static final AttemptScript UNSCRIPTED =
      new AttemptScript(Trigger.HALF_CLOSE, 0, true, 1, End.OK, Status.Code.OK, Hint.NONE, "");

  private final ScheduledExecutorService timer;
  private final Consumer<Throwable> harnessError;

  ScriptedItemService(ScheduledExecutorService timer, Consumer<Throwable> harnessError) {
    this.timer = timer;
    this.harnessError = harnessError;
  }

  ServerServiceDefinition bindService() {
    ServerServiceDefinition.Builder b =
        ServerServiceDefinition.builder(ItemServiceGrpc.getServiceDescriptor());
    for (StressMethod method : StressMethod.values()) {
      b.addMethod(method.descriptor(), new Handler(method));
    }
    return b.build();
  }

  private final class Handler implements ServerCallHandler<Object, Object> {
    private final StressMethod method;

    Handler(StressMethod method) {
      this.method = method;
    }

    @Override
    public ServerCall.Listener<Object> startCall(ServerCall<Object, Object> call, Metadata headers) {
      long callId = StressHeaders.callId(headers);
      int number = StressHeaders.attemptNumber(headers);
      String text = headers.get(StressHeaders.SCRIPT);
      AttemptScript script;
      if (text == null) {
        script = UNSCRIPTED;
      } else {
        List<AttemptScript> scripts = AttemptScript.decodeAll(text);
        script = number >= 0 && number < scripts.size() ? scripts.get(number) : AttemptScript.beyondScript();
      }
      Attempt attempt = new Attempt(call, method, callId, number, script);
      call.request(Integer.MAX_VALUE);
      if (script.trigger() == Trigger.START) {
        attempt.trigger();
      }
      return attempt;
    }
  }

  private final class Attempt extends ServerCall.Listener<Object> {
    private final ServerCall<Object, Object> call;
    private final StressMethod method;
    private final long callId;
    private final int number;
    private final AttemptScript script;
    private final SynchronizationContext sync;
    // Confined to sync.
    private int received;
    private boolean acted;
    private volatile boolean cancelled;

    Attempt(
        ServerCall<Object, Object> call,
        StressMethod method,
        long callId,
        int number,
        AttemptScript script) {
      this.call = call;
      this.method = method;
      this.callId = callId;
      this.number = number;
      this.script = script;
      this.sync = new SynchronizationContext((thread, e) -> harnessError.accept(e));
    }

    @Override
    public void onMessage(Object message) {
      sync.execute(
          () -> {
            received++;
            if (script.trigger() == Trigger.FIRST_MESSAGE && received == 1) {
              act();
            }
          });
    }

    @Override
    public void onHalfClose() {
      sync.execute(
          () -> {
            if (script.trigger() == Trigger.HALF_CLOSE) {
              act();
            }
          });
    }

    @Override
    public void onCancel() {
      cancelled = true;
    }

    void trigger() {
      sync.execute(this::act);
    }

    /** In sync. */
    private void act() {
      if (acted) {
        return;
      }
      acted = true;
      if (script.delayMicros() > 0) {
        timer.schedule(() -> sync.execute(this::perform), script.delayMicros(), TimeUnit.MICROSECONDS);
      } else {
        perform();
      }
    }

    /** In sync. */
    private void perform() {
      if (cancelled) {
        return;
      }
      try {
        if (script.headers()) {
          Metadata headers = new Metadata();
          headers.put(StressHeaders.ATTEMPT_TAG, StressHeaders.attemptTag(callId, number));
          call.sendHeaders(headers);
        }
        for (int i = 0; i < script.messages(); i++) {
          if (cancelled) {
            return;
          }
          call.sendMessage(method.response(StressHeaders.messageTag(callId, number, i), received));
        }
        switch (script.end()) {
          case OK -> call.close(Status.OK, trailers());
          case ERROR -> closeWithError();
          case HANG -> {}
        }
      } catch (RuntimeException e) {
        // A call cancelled under our feet refuses further operations; anything else is ours.
        if (!cancelled && !call.isCancelled()) {
          harnessError.accept(e);
        }
      }
    }

    private Metadata trailers() {
      Metadata trailers = new Metadata();
      trailers.put(StressHeaders.ATTEMPT_TAG, StressHeaders.attemptTag(callId, number));
      return trailers;
    }

    private void closeWithError() {
      String description =
          "stress: scripted " + script.code() + " on attempt " + StressHeaders.attemptTag(callId, number);
      Metadata trailers = trailers();
      Status status = Status.fromCode(script.code()).withDescription(description);
      switch (script.hint()) {
        case PUSHBACK, BAD_PUSHBACK -> trailers.put(StressHeaders.PUSHBACK, script.hintValue());
        case RETRY_INFO -> {
          RetryInfo info =
              RetryInfo.newBuilder()
                  .setRetryDelay(
                      com.google.protobuf.Duration.newBuilder()
                          .setNanos(Integer.parseInt(script.hintValue()) * 1_000_000))
                  .build();
          com.google.rpc.Status details =
              com.google.rpc.Status.newBuilder()
                  .setCode(script.code().value())
                  .setMessage(description)
                  .addDetails(Any.pack(info))
                  .build();
          StatusRuntimeException e = StatusProto.toStatusRuntimeException(details, trailers);
          status = e.getStatus();
          trailers = e.getTrailers();
        }
        case NONE -> {}
      }
      call.close(status, trailers);
    }
  }
}
