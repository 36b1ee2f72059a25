package io.github.grpcretry.lab;

import io.grpc.Attributes;
import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Resolves the lab's target to a fixed list of loopback ports, one address group per server, so
 * that {@code round_robin} spreads calls over the replicas: the lab's own stand-in for DNS.
 *
 * <p>Immutable and thread-safe; each resolver it makes answers once, with the same list.
 */
final class StaticResolverFactory extends NameResolver.Factory {
  private final List<EquivalentAddressGroup> servers;

  StaticResolverFactory(List<Integer> ports) {
    this.servers =
        ports.stream()
            .map(port -> new EquivalentAddressGroup(new InetSocketAddress("127.0.0.1", port)))
            .toList();
  }

  @Override
  public @Nullable NameResolver newNameResolver(URI targetUri, NameResolver.Args args) {
    if (!getDefaultScheme().equals(targetUri.getScheme())) {
      return null;
    }
    String authority = targetUri.getPath().isEmpty() ? "storm-lab" : targetUri.getPath().substring(1);
    return new NameResolver() {
      @Override
      public String getServiceAuthority() {
        return authority;
      }

      @Override
      public void start(Listener2 listener) {
        if (servers.isEmpty()) {
          listener.onError(Status.UNAVAILABLE.withDescription("storm-lab: no server"));
          return;
        }
        listener.onResult(
            ResolutionResult.newBuilder()
                .setAddresses(servers)
                .setAttributes(Attributes.EMPTY)
                .build());
      }

      @Override
      public void shutdown() {}
    };
  }

  @Override
  public String getDefaultScheme() {
    return "storm-lab";
  }
}
