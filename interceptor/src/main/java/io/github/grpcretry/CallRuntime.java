package io.github.grpcretry;

import io.grpc.Deadline;
import io.grpc.Metadata;
import org.jspecify.annotations.Nullable;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.DoubleSupplier;

/**
 * The runtime objects that every call of one interceptor shares: where timers run, what time it
 * is, where jitter comes from, who classifies failures, who counts buffered bytes and which
 * budget a call spends. Built once
 * by {@link RetryInterceptor} and handed to each {@link RetryingCall} as one value, so that a call
 * never reads the interceptor's fields.
 *
 * <p>Thread-safe: the references are final; the objects they point to are thread-safe.
 */
final class CallRuntime {
  final ScheduledExecutorService scheduler;
  final Deadline.Ticker ticker;
  final DoubleSupplier random;
  final StatusClassifier classifier;
  final BufferMeter buffers;
  final BudgetScope budgets;
  final BreakerScope breakers;
  /** The interceptor's listeners as one, or null when it has none. */
  final @Nullable RetryListener listener;
  /** The header of idempotency keys. */
  final Metadata.Key<String> idempotencyKeyHeader;

  CallRuntime(
      ScheduledExecutorService scheduler,
      Deadline.Ticker ticker,
      DoubleSupplier random,
      StatusClassifier classifier,
      BufferMeter buffers,
      BudgetScope budgets,
      BreakerScope breakers,
      @Nullable RetryListener listener,
      Metadata.Key<String> idempotencyKeyHeader) {
    this.scheduler = scheduler;
    this.ticker = ticker;
    this.random = random;
    this.classifier = classifier;
    this.buffers = buffers;
    this.budgets = budgets;
    this.breakers = breakers;
    this.listener = listener;
    this.idempotencyKeyHeader = idempotencyKeyHeader;
  }
}
