package io.github.grpcretry;

import java.util.concurrent.ThreadLocalRandom;

/** New idempotency keys, and the check of keys the application gives. Thread-safe: stateless. */
final class IdempotencyKeys {
  private static final char[] HEX = "0123456789abcdef".toCharArray();
  private static final int MAX_LENGTH = 255;

  private IdempotencyKeys() {}

  /** A random 128-bit key as 32 lower-case hexadecimal characters. */
  static String newKey() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    char[] key = new char[32];
    fill(key, 0, random.nextLong());
    fill(key, 16, random.nextLong());
    return new String(key);
  }

  private static void fill(char[] into, int at, long bits) {
    for (int i = 15; i >= 0; i--) {
      into[at + i] = HEX[(int) (bits & 0xf)];
      bits >>>= 4;
    }
  }

  /**
   * Checks a key the application gave.
   *
   * @throws IllegalArgumentException unless it is 1 to 255 printable ASCII characters
   */
  static void check(String key, String from) {
    boolean printable = !key.isEmpty() && key.length() <= MAX_LENGTH;
    for (int i = 0; i < key.length() && printable; i++) {
      char c = key.charAt(i);
      printable = c >= 0x20 && c <= 0x7e;
    }
    if (!printable) {
      String shown = key.length() > 40 ? key.substring(0, 40) + "..." : key;
      throw new IllegalArgumentException(
          "the idempotency key from "
              + from
              + " must be 1 to "
              + MAX_LENGTH
              + " printable ASCII characters: \""
              + shown
              + "\"");
    }
  }
}
