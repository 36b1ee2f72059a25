package io.github.grpcretry;

import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * Calls into code that the user supplied (classifier, budget, jitter source) so that whatever it
 * throws becomes a {@link Failure}: a call ends with INTERNAL naming what threw, never hangs.
 *
 * <p>Thread-safe: stateless.
 */
final class UserCode {
  private UserCode() {}

  /** What a piece of user code did wrong, as the status the call ends with. */
  static final class Failure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    final transient Status status;

    Failure(String what, Throwable cause) {
      super(what, cause, false, false);
      this.status =
          Status.INTERNAL.withDescription("grpc-retry: " + what + ": " + cause).withCause(cause);
    }
  }

  static StatusClassifier.Category classify(StatusClassifier classifier, AttemptFailure failure) {
    StatusClassifier.Category category;
    try {
      category = classifier.classify(failure);
    } catch (RuntimeException | Error e) {
      throw new Failure("the StatusClassifier " + classifier + " threw", e);
    }
    if (category == null) {
      throw new Failure(
          "the StatusClassifier " + classifier + " returned null",
          new NullPointerException("classify returned null"));
    }
    return category;
  }

  static boolean tryAcquire(RetryBudget budget, RetryBudget.AttemptKind kind) {
    try {
      return budget.tryAcquire(kind);
    } catch (RuntimeException | Error e) {
      throw new Failure("the RetryBudget " + budget + " threw from tryAcquire(" + kind + ")", e);
    }
  }

  static void recordOutcome(RetryBudget budget, int attemptNumber, RetryBudget.Outcome outcome) {
    try {
      budget.recordOutcome(attemptNumber, outcome);
    } catch (RuntimeException | Error e) {
      throw new Failure(
          "the RetryBudget " + budget + " threw from recordOutcome(" + attemptNumber + ", " + outcome + ")",
          e);
    }
  }

  static boolean tryAcquirePermission(CircuitBreaker breaker) {
    try {
      return breaker.tryAcquirePermission();
    } catch (RuntimeException | Error e) {
      throw new Failure("the CircuitBreaker " + breaker + " threw from tryAcquirePermission", e);
    }
  }

  /** Tells a breaker how an attempt it let through ended: success, failure or (null) nothing. */
  static void report(CircuitBreaker breaker, @Nullable Boolean failed) {
    try {
      if (failed == null) {
        breaker.onIgnored();
      } else if (failed) {
        breaker.onFailure();
      } else {
        breaker.onSuccess();
      }
    } catch (RuntimeException | Error e) {
      throw new Failure("the CircuitBreaker " + breaker + " threw when told an attempt's result", e);
    }
  }

  static boolean isFailure(CircuitBreaker breaker, Status status) {
    try {
      return breaker.isFailure(status);
    } catch (RuntimeException | Error e) {
      throw new Failure("the CircuitBreaker " + breaker + " threw from isFailure", e);
    }
  }

  static String describeRejection(CircuitBreaker breaker) {
    try {
      return String.valueOf(breaker.describeRejection());
    } catch (RuntimeException | Error e) {
      return "the CircuitBreaker " + breaker + " refused, and threw when asked why: " + e;
    }
  }

  /** A draw in [0, 1) from the jitter source set with {@link RetryInterceptor.Builder#random}. */
  static double draw(java.util.function.DoubleSupplier random) {
    double value;
    try {
      value = random.getAsDouble();
    } catch (RuntimeException | Error e) {
      throw new Failure("the jitter source (RetryInterceptor.Builder.random) threw", e);
    }
    if (!(value >= 0.0 && value < 1.0)) {
      throw new Failure(
          "the jitter source (RetryInterceptor.Builder.random) returned " + value + ", outside [0, 1)",
          new IllegalArgumentException("random must be in [0, 1): " + value));
    }
    return value;
  }
}
