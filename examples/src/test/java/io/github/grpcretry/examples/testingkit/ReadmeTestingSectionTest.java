package io.github.grpcretry.examples.testingkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The README's "Testing your retry policy" section shows the example test verbatim. */
class ReadmeTestingSectionTest {
  @Test
  void theReadmeShowsTheExampleTest() throws IOException {
    String source =
        Files.readString(
            Path.of("src/test/java/io/github/grpcretry/examples/testingkit/CheckoutRetryPolicyTest.java"),
            StandardCharsets.UTF_8);
    String start = "  // README:testing:start\n";
    String body = source.substring(source.indexOf(start) + start.length(), source.indexOf("  // README:testing:end"));
    String snippet =
        Arrays.stream(body.split("\n"))
            .map(line -> line.startsWith("  ") ? line.substring(2) : line)
            .collect(Collectors.joining("\n"));
    String readme = Files.readString(Path.of("..", "README.md"), StandardCharsets.UTF_8);
    assertThat(readme).contains(snippet);
  }
}
