package io.github.grpcretry.benchmarks;

import java.util.ArrayList;
import java.util.List;

/**
 * One set-up of {@link PairedBenchmark}: a {@link ChannelSetup} on a {@link Transport}, named as
 * the set-up with the transport's prefix ({@code interceptor}, {@code netty-interceptor}).
 *
 * @param transport how the client reaches the server
 * @param channelSetup how the client retries
 */
record PairedSetup(Transport transport, ChannelSetup channelSetup) {

  /** Every set-up, in-process ones first, each transport's in {@link ChannelSetup}'s order. */
  static List<PairedSetup> all() {
    List<PairedSetup> all = new ArrayList<>();
    for (Transport transport : Transport.values()) {
      for (ChannelSetup setup : ChannelSetup.values()) {
        all.add(new PairedSetup(transport, setup));
      }
    }
    return List.copyOf(all);
  }

  /** Its name on the command line and in the table. */
  String name() {
    return transport.namePrefix() + channelSetup.paramName();
  }

  /** The set-up that this one is compared with: the bare channel on the same transport. */
  PairedSetup baseline() {
    return new PairedSetup(transport, ChannelSetup.BARE);
  }

  boolean isBaseline() {
    return channelSetup == ChannelSetup.BARE;
  }

  @Override
  public String toString() {
    return name();
  }
}
