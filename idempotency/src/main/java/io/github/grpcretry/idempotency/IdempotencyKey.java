package io.github.grpcretry.idempotency;

import java.util.Objects;

/**
 * What a store deduplicates by: the caller's scope, the full method name and the key the caller
 * sent.
 *
 * <p>Two requests are duplicates only if all three are equal, so a key chosen by one caller never
 * meets another caller's, and a key reused on another method is another key.
 *
 * <p>This class is immutable and thread-safe.
 */
public final class IdempotencyKey {
  private final String callerScope;
  private final String fullMethodName;
  private final String key;

  private IdempotencyKey(String callerScope, String fullMethodName, String key) {
    this.callerScope = callerScope;
    this.fullMethodName = fullMethodName;
    this.key = key;
  }

  /**
   * Returns the key of {@code key} sent by the caller {@code callerScope} to {@code
   * fullMethodName}.
   *
   * @throws NullPointerException if an argument is null
   */
  public static IdempotencyKey of(String callerScope, String fullMethodName, String key) {
    return new IdempotencyKey(
        Objects.requireNonNull(callerScope, "callerScope"),
        Objects.requireNonNull(fullMethodName, "fullMethodName"),
        Objects.requireNonNull(key, "key"));
  }

  /** Returns the caller's scope, as the interceptor's {@link CallerScope} gave it. */
  public String callerScope() {
    return callerScope;
  }

  /** Returns the full name of the called method, such as {@code "pkg.Service/Method"}. */
  public String fullMethodName() {
    return fullMethodName;
  }

  /** Returns the key the caller sent. */
  public String key() {
    return key;
  }

  @Override
  public boolean equals(Object o) {
    if (this == o) {
      return true;
    }
    if (!(o instanceof IdempotencyKey)) {
      return false;
    }
    IdempotencyKey other = (IdempotencyKey) o;
    return key.equals(other.key)
        && fullMethodName.equals(other.fullMethodName)
        && callerScope.equals(other.callerScope);
  }

  @Override
  public int hashCode() {
    return Objects.hash(callerScope, fullMethodName, key);
  }

  @Override
  public String toString() {
    return "IdempotencyKey{caller=" + callerScope + ", method=" + fullMethodName + ", key=" + key
        + "}";
  }
}
