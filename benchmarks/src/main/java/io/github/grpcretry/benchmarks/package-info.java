/**
 * JMH benchmarks of grpc-retry: the cost of the interceptor on calls that succeed, next to a bare
 * channel and to grpc-java's built-in retry, and the hot path of the retry budgets. How to run them
 * and the targets they check: {@code docs/BENCHMARKS.md}.
 *
 * <p>Everything in this package is non-null unless annotated {@code @Nullable}; the fields of JMH
 * states are set by their {@code @Setup} method before any benchmark method reads them.
 */
@NullMarked
package io.github.grpcretry.benchmarks;

import org.jspecify.annotations.NullMarked;
