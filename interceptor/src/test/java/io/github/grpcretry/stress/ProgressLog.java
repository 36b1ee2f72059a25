package io.github.grpcretry.stress;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where to follow a long run while it runs: Surefire writes the test's output file only now and
 * then, so the start, the progress lines and the final figures and counts are also written, line
 * by line, to {@code target/grpcretry-stress-progress.log} of the module ({@code tail -f} it).
 */
final class ProgressLog {
  static final String FILE = "grpcretry-stress-progress.log";

  private ProgressLog() {}

  /** The progress log, or a sink if the target directory cannot be written. */
  static PrintStream open() {
    Path target = Path.of(System.getProperty("basedir", "."), "target");
    try {
      Files.createDirectories(target);
      return new PrintStream(
          new FileOutputStream(target.resolve(FILE).toFile()), true, StandardCharsets.UTF_8);
    } catch (IOException | SecurityException e) {
      return new PrintStream(OutputStream.nullOutputStream());
    }
  }
}
