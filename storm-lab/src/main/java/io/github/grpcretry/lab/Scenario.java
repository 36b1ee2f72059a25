package io.github.grpcretry.lab;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * What goes wrong at the server. All but two are a trigger in the middle of a healthy run; at all
 * times a small share of attempts fails at once with UNAVAILABLE, independently (the transient
 * background that retries exist for).
 *
 * <p>Immutable.
 */
public enum Scenario {
  /**
   * Every call takes {@code slowdown} times its normal service time, which divides the server's
   * capacity by as much: the way a slow disk, a garbage-collection spiral or a cold cache hurts.
   */
  LATENCY("latency", "service time x slowdown during the trigger", true),
  /** Every call fails at once with UNAVAILABLE: a crash, a bad deploy, a lost dependency. */
  OUTAGE("outage", "every call fails at once with UNAVAILABLE during the trigger", true),
  /** Half the attempts fail at once with UNAVAILABLE, at random: a partial failure. */
  BROWNOUT("brownout", "half the attempts fail at once with UNAVAILABLE during the trigger", true),
  /**
   * The server is as slow as in {@link #LATENCY} but protects itself: it sheds what it cannot serve
   * soon with RESOURCE_EXHAUSTED and a {@code grpc-retry-pushback-ms} trailer, instead of letting
   * its queue grow.
   */
  SHEDDING(
      "shedding",
      "service time x slowdown during the trigger; the server sheds what it cannot serve within"
          + " one slowed service time, with RESOURCE_EXHAUSTED and a pushback trailer",
      true),
  /**
   * Three servers behind {@code round_robin}; one of them is ten times slower for the whole run,
   * so a third of the first attempts land on a replica that cannot keep up.
   */
  SLOW_REPLICA(
      "slow-replica",
      "three servers behind round_robin, one of them 10x slower for the whole run",
      false),
  /** Nothing but the transient background failures. */
  TRANSIENT("transient", "only the background of transient failures, for the whole run", false);

  /** How many times slower the slow replica of {@link #SLOW_REPLICA} is. */
  static final int SLOW_REPLICA_FACTOR = 10;
  /** The share of attempts that fail during a {@link #BROWNOUT}. */
  static final double BROWNOUT_SHARE = 0.5;
  /** The pushback the server asks for when it sheds load in {@link #SHEDDING}. */
  static final int SHEDDING_PUSHBACK_MILLIS = 200;

  private final String cliName;
  private final String description;
  private final boolean hasTrigger;

  Scenario(String cliName, String description, boolean hasTrigger) {
    this.cliName = cliName;
    this.description = description;
    this.hasTrigger = hasTrigger;
  }

  /** The name used on the command line. */
  public String cliName() {
    return cliName;
  }

  /** What happens, in one line. */
  public String description() {
    return description;
  }

  /**
   * Whether the scenario has a trigger in the middle of the run; without one the "during the
   * trigger" figures cover the whole run and recovery does not apply.
   */
  public boolean hasTrigger() {
    return hasTrigger;
  }

  /** How many servers the clients call, behind {@code round_robin}. */
  int replicas() {
    return this == SLOW_REPLICA ? 3 : 1;
  }

  static Optional<Scenario> fromCliName(String name) {
    return Arrays.stream(values()).filter(s -> s.cliName.equals(name)).findFirst();
  }

  static List<String> cliNameList() {
    return Arrays.stream(values()).map(Scenario::cliName).toList();
  }

  /** The command-line names, comma-separated. */
  static String cliNames() {
    return Arrays.stream(values()).map(Scenario::cliName).collect(Collectors.joining(", "));
  }
}
