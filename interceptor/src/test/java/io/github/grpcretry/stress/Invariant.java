package io.github.grpcretry.stress;

/**
 * What the harness checks, by number as in the README: the numbered ones on every call or run, the
 * last two about the harness and the API surface rather than a numbered invariant.
 */
enum Invariant {
  ONE_CLOSE("1", "exactly one onClose"),
  CALLBACK_AFTER_CLOSE("1", "no callback after onClose"),
  CONCURRENT_CALLBACKS("1", "callbacks never concurrent"),
  MIXED_ATTEMPTS("2", "everything the application got comes from one attempt of this call"),
  SEQUENCE_BROKEN("2", "messages in sequence order, no gap, no duplicate"),
  ANSWER_LOST("2", "the committed attempt's server answer reaches the application whole"),
  OK_INCOMPLETE("2", "an OK close comes with every message of an attempt that ended OK"),
  ATTEMPT_AFTER_COMMIT("3", "no attempt starts after the application got headers or a message"),
  ATTEMPT_AFTER_NON_RETRYABLE("3", "no attempt starts after a close the policy does not retry"),
  ATTEMPT_AFTER_CLOSE("3", "no attempt starts after the application's onClose"),
  ATTEMPT_LIMIT("3", "no more attempts than maxAttempts"),
  LATE("4", "closed by deadline + 250 ms + watchdog lag"),
  HUNG("4", "a call without deadline closes within the bound after the test stops driving it"),
  SERVER_ATTEMPT_OPEN("5", "every server-side attempt ends"),
  BUFFERED_BYTES("6", "bufferedBytes() is 0 after all calls closed"),
  THREAD_GROWTH("7", "no thread growth after shutdown"),
  LISTENER("8", "listener events of a call are one consistent story that ends as the call did"),
  BREAKER_BALANCE("9", "every permission the breaker granted gets exactly one report"),
  BREAKER_REJECTED("9", "a call the breaker refused ends UNAVAILABLE without reaching a server"),
  KEYS("10", "one idempotency key per call, on every attempt, never shared by two calls"),
  CALL_METHOD_FAILED("x", "a ClientCall method threw at the application or did not return"),
  HARNESS("h", "the harness itself failed (a harness bug or a stall)");

  final String number;
  final String rule;

  Invariant(String number, String rule) {
    this.number = number;
    this.rule = rule;
  }

  String label() {
    return number + "/" + name();
  }
}
