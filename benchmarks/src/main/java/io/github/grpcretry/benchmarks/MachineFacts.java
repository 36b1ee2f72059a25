package io.github.grpcretry.benchmarks;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What a benchmark's figures depend on besides the code: the machine and the JVM, as the output
 * of a run states them.
 *
 * @param nproc what {@code nproc} prints, or why it could not be run
 * @param availableProcessors what the JVM sees ({@link Runtime#availableProcessors()})
 * @param cpuModel the first {@code model name} of {@code /proc/cpuinfo}, or "unknown"
 * @param javaVersion the {@code java.version} property
 * @param javaRuntimeVersion the {@code java.runtime.version} property
 * @param javaVmName the {@code java.vm.name} property
 * @param jvmArguments the JVM's options from its command line
 */
record MachineFacts(
    String nproc,
    int availableProcessors,
    String cpuModel,
    String javaVersion,
    String javaRuntimeVersion,
    String javaVmName,
    List<String> jvmArguments) {

  /** The facts of this machine and JVM. */
  static MachineFacts ofThisMachine() {
    return new MachineFacts(
        runNproc(),
        Runtime.getRuntime().availableProcessors(),
        readCpuModel(),
        System.getProperty("java.version", "unknown"),
        System.getProperty("java.runtime.version", "unknown"),
        System.getProperty("java.vm.name", "unknown"),
        List.copyOf(ManagementFactory.getRuntimeMXBean().getInputArguments()));
  }

  /** The 1, 5 and 15 minute load averages of {@code /proc/loadavg}, or "unknown". */
  static String loadAverage() {
    try {
      String[] fields = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
      return fields.length >= 3 ? fields[0] + " " + fields[1] + " " + fields[2] : "unknown";
    } catch (IOException | RuntimeException e) {
      return "unknown";
    }
  }

  private static String readCpuModel() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
        if (line.startsWith("model name")) {
          int colon = line.indexOf(':');
          return colon >= 0 ? line.substring(colon + 1).trim() : "unknown";
        }
      }
    } catch (IOException | RuntimeException e) {
      // Not Linux, or not readable: the model is then unknown, which the output says.
    }
    return "unknown";
  }

  private static String runNproc() {
    try {
      Process process = new ProcessBuilder("nproc").redirectErrorStream(true).start();
      String printed;
      try (InputStream in = process.getInputStream()) {
        printed = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
      }
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroy();
        return "unknown (nproc did not finish)";
      }
      return process.exitValue() == 0 ? printed : "unknown (nproc failed: " + printed + ")";
    } catch (IOException e) {
      return "unknown (no nproc)";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "unknown (interrupted)";
    }
  }
}
