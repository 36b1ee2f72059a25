package io.github.grpcretry.lab;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * What goes wrong at the server during the trigger.
 *
 * <p>Immutable.
 */
public enum Scenario {
  /**
   * Every call takes {@code slowdown} times its normal service time, which divides the server's
   * capacity by as much: the way a slow disk, a garbage-collection spiral or a cold cache hurts.
   */
  LATENCY("latency"),
  /** Every call fails at once with UNAVAILABLE: a crash, a bad deploy, a lost dependency. */
  OUTAGE("outage");

  private final String cliName;

  Scenario(String cliName) {
    this.cliName = cliName;
  }

  /** The name used on the command line. */
  public String cliName() {
    return cliName;
  }

  static Optional<Scenario> fromCliName(String name) {
    return Arrays.stream(values()).filter(s -> s.cliName.equals(name)).findFirst();
  }

  /** The command-line names, comma-separated. */
  static String cliNames() {
    return Arrays.stream(values()).map(Scenario::cliName).collect(Collectors.joining(", "));
  }
}
