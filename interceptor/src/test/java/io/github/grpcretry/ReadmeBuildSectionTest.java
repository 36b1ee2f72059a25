package io.github.grpcretry;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The README's "Add it to your build" shows what the consumer check builds (the parts of
 * consumer-check/src/it/consumer/pom.xml between README markers), at this build's version, and
 * the gRPC and protobuf versions of this build.
 */
class ReadmeBuildSectionTest {
  private static final Path ROOT = Path.of("..");

  private static String read(String path) throws IOException {
    return Files.readString(ROOT.resolve(path), StandardCharsets.UTF_8);
  }

  /** The text with each line stripped, so that indentation does not count. */
  private static String stripped(String text) {
    return text.lines().map(String::strip).collect(Collectors.joining("\n"));
  }

  private static String property(String pom, String name) {
    Matcher value = Pattern.compile("<" + name + ">([^<]+)</" + name + ">").matcher(pom);
    assertThat(value.find()).as("<%s> in the root pom", name).isTrue();
    return value.group(1);
  }

  private static String region(String consumerPom, String name) {
    Matcher region =
        Pattern.compile("(?s)<!-- README:" + name + ":start -->\\n(.*?)\\n\\s*<!-- README:" + name
            + ":end -->").matcher(consumerPom);
    assertThat(region.find()).as("README:%s in the consumer's pom", name).isTrue();
    return region.group(1);
  }

  @Test
  void theReadmeShowsWhatTheConsumerCheckBuilds() throws IOException {
    String rootPom = read("pom.xml");
    String version = property(rootPom, "version");
    String consumerPom = read("consumer-check/src/it/consumer/pom.xml");
    String readme = stripped(read("README.md"));
    String testingReadme = stripped(read("testing/README.md"));

    String bom = stripped(region(consumerPom, "bom").replace("@project.version@", version));
    assertThat(readme).contains(bom);
    assertThat(testingReadme).contains(bom);
    assertThat(readme).contains(stripped(region(consumerPom, "dependencies")));
    assertThat(readme)
        .contains("platform(\"io.github.grpcretry:grpc-retry-bom:" + version + "\")")
        .contains("gRPC " + property(rootPom, "grpc.version"))
        .contains("protobuf " + property(rootPom, "protobuf.version"));
  }
}
