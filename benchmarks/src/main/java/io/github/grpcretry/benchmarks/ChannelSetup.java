package io.github.grpcretry.benchmarks;

import io.github.grpcretry.RetryInterceptor;
import io.github.grpcretry.RetryPolicy;
import io.github.grpcretry.TokenBucketBudget;
import io.github.grpcretry.demo.v1.ItemServiceGrpc;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannelBuilder;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * The client set-ups that the gRPC benchmarks compare, each named as its value of the benchmarks'
 * {@code setup} parameter: how the channel retries, whatever its {@link Transport}. The JMH
 * benchmarks run them all in-process with callbacks on the calling thread ({@code
 * directExecutor()}), so that the differences measured are the client's own work; {@link
 * PairedBenchmark} also runs them over Netty on loopback.
 */
enum ChannelSetup {
  /** No retry at all: the baseline. */
  BARE("bare") {
    @Override
    ManagedChannelBuilder<?> configure(ManagedChannelBuilder<?> builder) {
      return builder.disableRetry();
    }
  },

  /** grpc-java's own retry, configured by a service config's {@code retryPolicy}. */
  BUILTIN("builtin") {
    @Override
    ManagedChannelBuilder<?> configure(ManagedChannelBuilder<?> builder) {
      return builder.enableRetry().defaultServiceConfig(BUILTIN_SERVICE_CONFIG);
    }
  },

  /** This library, on the {@link #BARE} channel: the README's {@code disableRetry()} setting. */
  INTERCEPTOR("interceptor") {
    @Override
    ManagedChannelBuilder<?> configure(ManagedChannelBuilder<?> builder) {
      return BARE.configure(builder);
    }

    @Override
    Channel intercept(Channel channel) {
      RetryInterceptor retry =
          RetryInterceptor.newBuilder()
              .defaultPolicy(RetryPolicy.newBuilder().maxAttempts(5).build())
              .build();
      return ClientInterceptors.intercept(channel, retry);
    }
  },

  /**
   * This library configured as a real service is: a policy for each of 100 methods (the demo
   * service's six among them) and a default, so that finding the call's policy is measured too.
   */
  INTERCEPTOR_100_METHODS("interceptor-100-methods") {
    @Override
    ManagedChannelBuilder<?> configure(ManagedChannelBuilder<?> builder) {
      return BARE.configure(builder);
    }

    @Override
    Channel intercept(Channel channel) {
      RetryPolicy policy = RetryPolicy.newBuilder().maxAttempts(5).build();
      RetryInterceptor.Builder builder = RetryInterceptor.newBuilder().defaultPolicy(policy);
      for (io.grpc.MethodDescriptor<?, ?> method :
          ItemServiceGrpc.getServiceDescriptor().getMethods()) {
        builder.methodPolicy(method, policy.toBuilder().maxAttempts(4).build());
      }
      int services = 0;
      for (int i = ItemServiceGrpc.getServiceDescriptor().getMethods().size(); i < 100; i++) {
        if (i % 10 == 0) {
          services++;
        }
        builder.methodPolicy("bench.Service" + services + "/Method" + i, policy);
      }
      return ClientInterceptors.intercept(channel, builder.build());
    }
  },

  /**
   * This library with a policy of one attempt and no per-attempt timeout: the interceptor finds the
   * call's policy and hands the call on as it is, so that its dispatch is measured alone, without
   * the retrying call.
   */
  INTERCEPTOR_ONE_ATTEMPT("interceptor-one-attempt") {
    @Override
    ManagedChannelBuilder<?> configure(ManagedChannelBuilder<?> builder) {
      return BARE.configure(builder);
    }

    @Override
    Channel intercept(Channel channel) {
      RetryInterceptor retry =
          RetryInterceptor.newBuilder()
              .defaultPolicy(RetryPolicy.newBuilder().maxAttempts(1).build())
              .build();
      return ClientInterceptors.intercept(channel, retry);
    }
  },

  /**
   * {@link #INTERCEPTOR} with a budget of its own ({@link TokenBucketBudget#create()}), so that
   * no call looks up its target's budget in the shared registry.
   */
  INTERCEPTOR_OWN_BUDGET("interceptor-own-budget") {
    @Override
    ManagedChannelBuilder<?> configure(ManagedChannelBuilder<?> builder) {
      return BARE.configure(builder);
    }

    @Override
    Channel intercept(Channel channel) {
      RetryInterceptor retry =
          RetryInterceptor.newBuilder()
              .defaultPolicy(RetryPolicy.newBuilder().maxAttempts(5).build())
              .retryBudget(TokenBucketBudget.create())
              .build();
      return ClientInterceptors.intercept(channel, retry);
    }
  };

  /**
   * The service config of {@link #BUILTIN}, as grpc-java's JSON parser would produce it (numbers
   * as {@code Double}). Like {@link #INTERCEPTOR}'s policy it allows 5 attempts and retries
   * UNAVAILABLE; the backoffs differ, which calls that succeed at once never notice.
   */
  private static final Map<String, ?> BUILTIN_SERVICE_CONFIG =
      Map.of(
          "methodConfig",
          List.of(
              Map.of(
                  "name",
                  List.of(Map.of("service", ItemServiceGrpc.SERVICE_NAME)),
                  "retryPolicy",
                  Map.of(
                      "maxAttempts", 5.0,
                      "initialBackoff", "0.1s",
                      "maxBackoff", "1s",
                      "backoffMultiplier", 2.0,
                      "retryableStatusCodes", List.of("UNAVAILABLE")))));

  private final String paramName;

  ChannelSetup(String paramName) {
    this.paramName = paramName;
  }

  /**
   * Returns the set-up named by a benchmark's {@code setup} parameter.
   *
   * @throws IllegalArgumentException if no set-up has that name
   */
  static ChannelSetup named(String paramName) {
    for (ChannelSetup setup : values()) {
      if (setup.paramName.equals(paramName)) {
        return setup;
      }
    }
    StringJoiner names = new StringJoiner(", ");
    for (ChannelSetup setup : values()) {
      names.add(setup.paramName);
    }
    throw new IllegalArgumentException("setup must be one of " + names + ": " + paramName);
  }

  /** The name of this set-up: its value of the benchmarks' {@code setup} parameter. */
  String paramName() {
    return paramName;
  }

  /** Sets this set-up's retry options on a transport's channel builder and returns the builder. */
  abstract ManagedChannelBuilder<?> configure(ManagedChannelBuilder<?> builder);

  /** Returns the channel that the stubs use: the built one, or the built one intercepted. */
  Channel intercept(Channel channel) {
    return channel;
  }
}
