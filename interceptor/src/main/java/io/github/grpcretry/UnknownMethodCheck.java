package io.github.grpcretry;

import com.google.protobuf.Descriptors;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoServiceDescriptorSupplier;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/**
 * Warns, once per service, about policies given by name for methods that the service does not
 * have: a misspelt name ({@code "hello.v1.Greeter/SayHelo"}) is well formed, so the builder and
 * the service config take it, and it never applies. Only the descriptor of a real call can tell,
 * so the check runs when a method of the service is first resolved, and only if the method carries
 * its protobuf service descriptor ({@link ProtoServiceDescriptorSupplier}); without one nothing is
 * known and nothing is said.
 *
 * <p>Thread-safe: the names are immutable, the set of services checked is concurrent.
 */
final class UnknownMethodCheck {
  private static final Logger logger = Logger.getLogger(RetryInterceptor.class.getName());

  /** The methods that have a policy of their own, by service. */
  private final Map<String, Set<String>> namedMethods = new HashMap<>();
  private final Set<String> checkedServices = ConcurrentHashMap.newKeySet();

  /** For policies keyed by these full method names ({@code "pkg.Service/Method"}). */
  UnknownMethodCheck(Collection<String> fullMethodNames) {
    for (String name : fullMethodNames) {
      int slash = name.indexOf('/');
      namedMethods
          .computeIfAbsent(name.substring(0, slash), service -> new TreeSet<>())
          .add(name.substring(slash + 1));
    }
  }

  /** Checks the service of {@code method}, unless it was checked or there is nothing to check. */
  void onFirstResolve(MethodDescriptor<?, ?> method) {
    String service = method.getServiceName();
    if (service == null
        || !namedMethods.containsKey(service)
        || !(method.getSchemaDescriptor() instanceof ProtoServiceDescriptorSupplier)
        || !checkedServices.add(service)) {
      return;
    }
    ServiceDescriptor descriptor =
        ((ProtoServiceDescriptorSupplier) method.getSchemaDescriptor()).getServiceDescriptor();
    Set<String> methods =
        descriptor.getMethods().stream()
            .map(Descriptors.MethodDescriptor::getName)
            .collect(Collectors.toCollection(TreeSet::new));
    List<String> unknown =
        namedMethods.get(service).stream().filter(m -> !methods.contains(m)).toList();
    if (!unknown.isEmpty()) {
      logger.warning(
          "grpc-retry: policies were given for methods that service "
              + service
              + " does not have, so they never apply: "
              + String.join(", ", unknown)
              + ". Its methods are "
              + String.join(", ", methods)
              + ". Check the names given to methodPolicy or in the service config.");
    }
  }
}
