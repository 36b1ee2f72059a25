package io.github.grpcretry.idempotency;

import io.grpc.Context;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import java.util.Objects;
import java.util.function.Function;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.jspecify.annotations.Nullable;

/**
 * Tells who is calling, so that idempotency keys of different callers never meet.
 *
 * <p>The interceptor deduplicates by caller scope, method and key: two callers that happen to send
 * the same key (by chance, or one guessing the other's) each have their request executed, and
 * neither ever receives the other's response. The scope must therefore come from something the
 * caller cannot choose: the authenticated identity of the transport, or what an authentication
 * interceptor that runs before this one has established. A request header the client sets is not
 * such a thing.
 *
 * <p>Implementations must be thread-safe and fast: they run on gRPC's threads for every keyed
 * request, inside the call's {@link Context}.
 */
@FunctionalInterface
public interface CallerScope {

  /**
   * Returns the scope of the caller of {@code call}, or null when the caller is not known; a keyed
   * request from an unknown caller is refused with {@code UNAUTHENTICATED}, never executed.
   */
  @Nullable String scopeOf(ServerCall<?, ?> call, Metadata headers);

  /**
   * Returns the scope that names the caller by the principal of its TLS client certificate, read
   * from {@link Grpc#TRANSPORT_ATTR_SSL_SESSION}: the certificate's subject, as {@code
   * "tls:" + SSLSession.getPeerPrincipal().getName()}. A call without TLS, or whose client sent no
   * certificate the server verified, has no scope.
   */
  static CallerScope tlsPeer() {
    return TlsPeerScope.INSTANCE;
  }

  /**
   * Returns the scope that names the caller by the value an authentication interceptor stored in
   * the call's {@link Context} under {@code key}, turned into a string by {@code id}; a call whose
   * Context has no value, or for which {@code id} returns null, has no scope.
   *
   * <p>The authentication interceptor must run before the idempotency interceptor: with {@link
   * io.grpc.ServerInterceptors#intercept(io.grpc.ServerServiceDefinition, io.grpc.ServerInterceptor...)},
   * list it after this one.
   *
   * @throws NullPointerException if an argument is null
   */
  static <T> CallerScope fromContext(
      Context.Key<T> key, Function<? super T, @Nullable String> id) {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(id, "id");
    return new CallerScope() {
      @Override
      public @Nullable String scopeOf(ServerCall<?, ?> call, Metadata headers) {
        T value = key.get();
        return value == null ? null : id.apply(value);
      }

      @Override
      public String toString() {
        return "CallerScope.fromContext(" + key + ")";
      }
    };
  }
}

/** See {@link CallerScope#tlsPeer()}. */
enum TlsPeerScope implements CallerScope {
  INSTANCE;

  @Override
  public @Nullable String scopeOf(ServerCall<?, ?> call, Metadata headers) {
    SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (session == null) {
      return null;
    }
    try {
      return "tls:" + session.getPeerPrincipal().getName();
    } catch (SSLPeerUnverifiedException noClientCertificate) {
      return null;
    }
  }

  @Override
  public String toString() {
    return "CallerScope.tlsPeer()";
  }
}
