package io.github.grpcretry.stress;

import io.github.grpcretry.stress.CallRecord.AttemptTrace;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.Deadline;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.TimeUnit;

/**
 * A client interceptor placed below the retry interceptor (closer to the transport), so that it
 * sees every attempt: it logs each attempt's start, the engine's cancel, and the attempt's
 * callbacks as the transport delivers them, each numbered by the global {@link EventClock} at the
 * moment it happens (a start when {@code start()} is entered, a callback when it arrives, before
 * the retry interceptor sees it).
 *
 * <p>It finds the call's record by the call id in the headers (copied to every attempt) and the
 * attempt number in {@code grpc-previous-rpc-attempts}. An attempt of a call that has already been
 * checked and retired is itself a violation (invariant 3: no attempt after the call closed).
 *
 * <p>Thread-safe.
 */
final class AttemptRecorder implements ClientInterceptor {
  private final EventClock clock;
  private final CallRegistry registry;
  private final Attribution attribution;
  private final Violations violations;
  private final Figures figures;

  AttemptRecorder(
      EventClock clock,
      CallRegistry registry,
      Attribution attribution,
      Violations violations,
      Figures figures) {
    this.clock = clock;
    this.registry = registry;
    this.attribution = attribution;
    this.violations = violations;
    this.figures = figures;
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions callOptions, Channel next) {
    return new ForwardingClientCall.SimpleForwardingClientCall<ReqT, RespT>(
        next.newCall(method, callOptions)) {
      private CallRecord record;
      private AttemptTrace trace;

      @Override
      public void start(Listener<RespT> listener, Metadata headers) {
        long seq = clock.next();
        long callId = StressHeaders.callId(headers);
        int number = StressHeaders.attemptNumber(headers);
        record = callId < 0 ? null : registry.live(callId);
        if (record == null) {
          if (callId >= 0) {
            violations.report(
                Invariant.ATTEMPT_AFTER_CLOSE,
                null,
                "attempt "
                    + number
                    + " started after its call was closed (or given up on) and checked:\n"
                    + registry.describeRetired(callId));
          }
          super.start(listener, headers);
          return;
        }
        Deadline deadline = callOptions.getDeadline();
        String detail =
            deadline == null
                ? ""
                : " (deadline in " + EventClock.millis(deadline.timeRemaining(TimeUnit.NANOSECONDS)) + ")";
        trace = record.attemptStarted(number, seq, detail);
        figures.count("below", "attempts started");
        super.start(new Recording<>(listener, record, trace), headers);
      }

      @Override
      public void cancel(String message, Throwable cause) {
        if (record != null && trace != null) {
          record.attemptCancelled(trace, clock.next(), message);
        }
        super.cancel(message, cause);
      }
    };
  }

  private final class Recording<RespT> extends ForwardingClientCallListener.SimpleForwardingClientCallListener<RespT> {
    private final CallRecord record;
    private final AttemptTrace trace;

    Recording(ClientCall.Listener<RespT> delegate, CallRecord record, AttemptTrace trace) {
      super(delegate);
      this.record = record;
      this.trace = trace;
    }

    @Override
    public void onHeaders(Metadata headers) {
      long seq = clock.next();
      record.attemptHeaders(trace, seq, StressHeaders.taggedAttempt(headers, record.plan.callId()));
      attribution.run(record, () -> super.onHeaders(headers));
    }

    @Override
    public void onMessage(RespT message) {
      long seq = clock.next();
      record.attemptMessage(trace, seq, StressHeaders.tagOf(message));
      attribution.run(record, () -> super.onMessage(message));
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
      long seq = clock.next();
      record.attemptClosed(
          trace,
          seq,
          status,
          StressHeaders.taggedAttempt(trailers, record.plan.callId()),
          trailers.get(StressHeaders.PUSHBACK));
      try {
        attribution.run(record, () -> super.onClose(status, trailers));
      } finally {
        record.attemptCloseReturned(trace);
      }
    }

    @Override
    public void onReady() {
      attribution.run(record, super::onReady);
    }
  }
}
