package io.github.grpcretry.stress;

import io.github.grpcretry.RetryInterceptor;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * The server's side of the record: every attempt that reaches a server, what the server sent on
 * it, and whether it ended ({@code onComplete} or {@code onCancel}). Attempts that have not ended
 * stay in {@link #open()} so that the end of the run can check invariant 5.
 *
 * <p>Thread-safe; one instance serves both servers.
 */
final class ServerRecorder implements ServerInterceptor {
  private final EventClock clock;
  private final CallRegistry registry;
  private final Figures figures;
  private final ConcurrentHashMap<Long, ServerAttempt> open = new ConcurrentHashMap<>();
  private final AtomicLong serials = new AtomicLong();
  private final Violations violations;
  /** The calls of the most recent keys: a key that shows up with another call is shared. */
  private final LinkedHashMap<String, Long> recentKeys =
      new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Long> eldest) {
          return size() > RECENT_KEYS;
        }
      };

  static final Metadata.Key<String> IDEMPOTENCY_KEY =
      Metadata.Key.of(RetryInterceptor.DEFAULT_IDEMPOTENCY_KEY_HEADER, Metadata.ASCII_STRING_MARSHALLER);
  private static final int RECENT_KEYS = 100_000;

  ServerRecorder(EventClock clock, CallRegistry registry, Figures figures, Violations violations) {
    this.clock = clock;
    this.registry = registry;
    this.figures = figures;
    this.violations = violations;
  }

  /** Notes the attempt's key; two calls with one key break invariant 10 (KEYS). */
  private void checkKey(ServerAttempt attempt, @Nullable CallRecord record, String key) {
    attempt.key = key;
    if (attempt.callId < 0) {
      return;
    }
    Long owner;
    synchronized (recentKeys) {
      owner = recentKeys.putIfAbsent(key, attempt.callId);
    }
    if (owner != null && owner != attempt.callId) {
      violations.report(
          Invariant.KEYS,
          record,
          "attempt " + attempt.number + " of call " + attempt.callId + " arrived with key " + key
              + ", which call " + owner + " used before");
    }
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    long callId = StressHeaders.callId(headers);
    int number = StressHeaders.attemptNumber(headers);
    long seq = clock.next();
    CallRecord record = callId < 0 ? null : registry.live(callId);
    ServerAttempt attempt = new ServerAttempt(callId, number, seq, serials.incrementAndGet(), record);
    if (callId >= 0) {
      open.put(attempt.serial, attempt);
      figures.count("server", "attempts");
    }
    String key = headers.get(IDEMPOTENCY_KEY);
    if (key != null) {
      checkKey(attempt, record, key);
    }
    if (record != null) {
      record.serverAttempt(attempt);
      record.event(seq, "server: attempt " + number + " arrives" + (key != null ? " with key " + key : ""));
    }
    ServerCall<ReqT, RespT> recorded =
        new ForwardingServerCall.SimpleForwardingServerCall<ReqT, RespT>(call) {
          @Override
          public void sendHeaders(Metadata responseHeaders) {
            attempt.headersSent();
            log(record, "server: attempt " + number + " sends headers");
            super.sendHeaders(responseHeaders);
          }

          @Override
          public void sendMessage(RespT message) {
            log(record, "server: attempt " + number + " sends " + StressHeaders.tagOf(message));
            super.sendMessage(message);
            attempt.messageSent();
          }

          @Override
          public void close(Status status, Metadata trailers) {
            attempt.closing(status);
            log(record, "server: attempt " + number + " closes " + CallRecord.brief(status));
            super.close(status, trailers);
          }
        };
    ServerCall.Listener<ReqT> listener = next.startCall(recorded, headers);
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<ReqT>(listener) {
      @Override
      public void onComplete() {
        ended("completed");
        super.onComplete();
      }

      @Override
      public void onCancel() {
        ended("cancelled");
        super.onCancel();
      }

      private void ended(String how) {
        long endSeq = clock.next();
        if (attempt.ended(how, endSeq)) {
          open.remove(attempt.serial);
          if (record != null) {
            record.event(endSeq, "server: attempt " + number + " " + how);
          }
        }
      }
    };
  }

  private void log(CallRecord record, String text) {
    if (record != null) {
      record.event(text);
    }
  }

  /** Attempts that reached a server and have not ended yet. */
  List<ServerAttempt> open() {
    return new ArrayList<>(open.values());
  }
}
