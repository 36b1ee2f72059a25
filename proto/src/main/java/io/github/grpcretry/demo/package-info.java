/**
 * A reference implementation of the demo {@code ItemService}, shared by tests, examples and
 * benchmarks.
 */
@NullMarked
package io.github.grpcretry.demo;

import org.jspecify.annotations.NullMarked;
