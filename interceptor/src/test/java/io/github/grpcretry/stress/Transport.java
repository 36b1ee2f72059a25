package io.github.grpcretry.stress;

/** The channels a call may go through. */
enum Transport {
  /** In-process, with {@code directExecutor()} on the channel: callbacks on the sending thread. */
  IN_PROCESS_DIRECT,
  /** In-process, callbacks on the channel's default executor. */
  IN_PROCESS_POOLED,
  /** Netty over loopback TCP, plaintext. */
  NETTY
}
