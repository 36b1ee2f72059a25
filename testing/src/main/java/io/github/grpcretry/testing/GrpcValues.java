package io.github.grpcretry.testing;

import io.grpc.Metadata;
import io.grpc.Status;

/** Copies and short descriptions of gRPC value types, shared by the kit; stateless. */
final class GrpcValues {
  private GrpcValues() {}

  /** Returns a new {@link Metadata} holding the entries of {@code metadata}. */
  static Metadata copy(Metadata metadata) {
    Metadata copy = new Metadata();
    copy.merge(metadata);
    return copy;
  }

  /** Returns {@code "CODE"} or {@code "CODE: description"}; a status's cause stays server-side. */
  static String describe(Status status) {
    String description = status.getDescription();
    return description == null ? status.getCode().name() : status.getCode() + ": " + description;
  }
}
