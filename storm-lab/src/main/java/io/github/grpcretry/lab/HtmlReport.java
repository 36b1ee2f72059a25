package io.github.grpcretry.lab;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import io.github.grpcretry.BudgetStats;

/**
 * The lab's HTML report: the run's settings, what the matrix shows, the summary matrix, and per
 * scenario a table per set-up and two SVG charts (attempts per second at the server and goodput
 * over time, one line per set-up, the trigger shaded). Self-contained: no
 * script, no style sheet or font to fetch, so it opens anywhere and can be attached to an issue.
 *
 * <p>Pure functions apart from {@link #write}; thread-safe.
 */
final class HtmlReport {
  private static final int WIDTH = 960;
  private static final int HEIGHT = 380;
  private static final int LEFT = 72;
  private static final int RIGHT = 24;
  private static final int TOP = 58;
  private static final int BOTTOM = 52;

  private HtmlReport() {}

  /** Writes the report to {@code path}, creating its folder if needed. */
  static void write(Path path, LabOptions options, List<SetupResult> results) throws IOException {
    Path parent = path.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.writeString(path, render(options, results), StandardCharsets.UTF_8);
  }

  /** The report as one HTML document. */
  static String render(LabOptions options, List<SetupResult> results) {
    StringBuilder h = new StringBuilder();
    h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .append("<title>grpc-retry storm lab</title>\n<style>\n")
        .append("body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;")
        .append("margin:24px auto;max-width:1000px;color:#222;line-height:1.45}\n")
        .append("h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin:28px 0 6px}\n")
        .append("h3{font-size:15px;margin:18px 0 4px}\n")
        .append("table{border-collapse:collapse;font-size:13px;margin:8px 0}\n")
        .append("th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}\n")
        .append("th{font-weight:600;vertical-align:bottom}\n")
        .append("td{white-space:nowrap}td.wrap{white-space:normal;text-align:left;min-width:9em}\n")
        .append("th:first-child,td:first-child{text-align:left}\n")
        .append("th{background:#f4f4f4}.note{color:#555;font-size:14px}\n")
        .append("pre{font-size:12px;background:#f8f8f8;padding:8px;overflow-x:auto}\n")
        .append("svg{display:block;margin:4px 0 10px}\n")
        .append("</style>\n</head>\n<body>\n");
    h.append("<h1>Retry-storm lab</h1>\n<p class=\"note\">")
        .append(escape(ResultTable.describeRun(options)).replace("\n", "<br>"))
        .append("</p>\n<p><b>")
        .append(escape(ResultTable.whatItShows(results, options)).replace("\n", " "))
        .append("</b></p>\n");
    h.append("<h2>Summary matrix</h2>\n<pre>")
        .append(escape(ResultTable.matrix(results, options)))
        .append("</pre>\n");

    for (Scenario scenario : options.scenarios()) {
      List<SetupResult> rs = results.stream().filter(r -> r.scenario() == scenario).toList();
      if (rs.isEmpty()) {
        continue;
      }
      h.append("<h2>Scenario \"")
          .append(escape(scenario.cliName()))
          .append("\": ")
          .append(escape(scenario.description()))
          .append("</h2>\n");
      summaryTable(h, options, rs);
      serverTable(h, rs);
      double[][] attempts = new double[rs.size()][];
      double[][] goodput = new double[rs.size()][];
      for (int i = 0; i < rs.size(); i++) {
        attempts[i] = rs.get(i).attemptsPerSecond();
        goodput[i] = rs.get(i).goodputPerSecond();
      }
      h.append("<h3>Attempts per second at the server")
          .append(scenario.replicas() > 1 ? "s (all replicas)" : "")
          .append("</h3>\n")
          .append(
              chart(options, scenario, rs, attempts, "attempts per second", "attempts the server saw"));
      h.append("<h3>Goodput: successful calls per second</h3>\n")
          .append(chart(options, scenario, rs, goodput, "successful calls per second", "goodput"));
    }

    h.append("<h2>How to read this</h2>\n<ul class=\"note\">\n")
        .append("<li>Each set-up ran on its own fresh servers, one after another, with the same")
        .append(" open-loop load: calls go out on a fixed schedule whatever the answers.</li>\n")
        .append("<li><b>Amplification</b> is attempts at the server per offered call. Above 1")
        .append(" during the trigger, retries add load exactly when the server has least to")
        .append(" spare.</li>\n")
        .append("<li><b>Goodput back</b>: time from the end of the trigger until successful")
        .append(" calls per ")
        .append(Recovery.BUCKET_MILLIS)
        .append(" ms bucket reach ")
        .append(Math.round(Recovery.SHARE_OF_OFFERED * 100))
        .append("% of the offered rate and stay there for ")
        .append(LabOptions.secondsText(Recovery.HOLD_MILLIS))
        .append(" s. A set-up that never gets there is stuck in a retry-driven metastable state:")
        .append(" the trigger is gone, but retries of calls that time out in the queue keep the")
        .append(" server full of work nobody waits for.</li>\n")
        .append("<li>Latency percentiles are of successful calls only, measured from when each")
        .append(" call was due.</li>\n</ul>\n");

    h.append("<h2>Set-ups</h2>\n<table>\n");
    for (Setup setup : options.setups()) {
      h.append("<tr><td class=\"wrap\">")
          .append(swatch(setup))
          .append(escape(setup.label()))
          .append("</td><td class=\"wrap\">")
          .append(escape(setup.description()))
          .append("</td></tr>\n");
    }
    h.append("</table>\n<p class=\"note\">")
        .append(escape(options.toString()))
        .append("</p>\n</body>\n</html>\n");
    return h.toString();
  }

  private static void summaryTable(StringBuilder h, LabOptions options, List<SetupResult> rs) {
    h.append("<table>\n<tr><th>set-up</th><th>offered calls</th>")
        .append("<th>server attempts</th><th>ampli&shy;fication</th>")
        .append("<th>ampli&shy;fication during the trigger</th><th>success rate</th>")
        .append("<th>success during the trigger</th>")
        .append("<th>success of calls due before the trigger</th>")
        .append("<th>p50</th><th>p99</th><th>goodput back after the trigger</th>")
        .append("<th>calls sent late by the load, p99</th></tr>\n");
    for (SetupResult r : rs) {
      h.append("<tr><td class=\"wrap\">")
          .append(swatch(r.setup()))
          .append(escape(r.setup().label()))
          .append("</td><td>")
          .append(r.offered())
          .append("</td><td>")
          .append(r.serverAttempts())
          .append("</td><td>")
          .append(ResultTable.ratio(r.amplification()))
          .append("</td><td>")
          .append(ResultTable.ratio(r.amplificationDuringTrigger()))
          .append("</td><td>")
          .append(ResultTable.percent(r.successRate()))
          .append("</td><td>")
          .append(ResultTable.percent(r.successRateDuringTrigger()))
          .append("</td><td>")
          .append(
              r.scenario().hasTrigger() ? ResultTable.percent(r.successRateBeforeTrigger()) : "-")
          .append("</td><td>")
          .append(ResultTable.millis(r.p50Nanos()))
          .append("</td><td>")
          .append(ResultTable.millis(r.p99Nanos()))
          .append("</td><td class=\"wrap\">")
          .append(escape(ResultTable.recovery(r.recoveryMillis(), options)))
          .append("</td><td>")
          .append(ResultTable.millis(r.sendLagP99Nanos()))
          .append("</td></tr>\n");
    }
    h.append("</table>\n");
  }

  private static void serverTable(StringBuilder h, List<SetupResult> rs) {
    h.append("<table>\n<tr><th>set-up</th>")
        .append("<th>answered</th><th>wasted: worked on after the client gave up</th>")
        .append("<th>rejected: queue full</th><th>shed with pushback</th>")
        .append("<th>failed: trigger</th><th>failed: transient</th>")
        .append("<th>rejected locally by a breaker</th>")
        .append("<th>calls that failed, by final status</th><th>retry budget: granted / refused")
        .append("</th></tr>\n");
    for (SetupResult r : rs) {
      BudgetStats budget = r.budget();
      h.append("<tr><td class=\"wrap\">")
          .append(swatch(r.setup()))
          .append(escape(r.setup().label()))
          .append("</td><td>")
          .append(r.answered())
          .append("</td><td>")
          .append(r.wasted())
          .append("</td><td>")
          .append(r.rejected())
          .append("</td><td>")
          .append(r.shed())
          .append("</td><td>")
          .append(r.failedFast())
          .append("</td><td>")
          .append(r.failedTransiently())
          .append("</td><td>")
          .append(r.rejectedLocally())
          .append("</td><td class=\"wrap\">")
          .append(escape(ResultTable.failures(r.failures(), r.unfinished())))
          .append("</td><td>")
          .append(budget == null ? "-" : budget.granted() + " / " + budget.refused())
          .append("</td></tr>\n");
    }
    h.append("</table>\n");
  }

  /** One line chart of per-bucket rates, one series per set-up, with the trigger shaded. */
  static String chart(
      LabOptions options,
      Scenario scenario,
      List<SetupResult> results,
      double[][] series,
      String yLabel,
      String what) {
    double durationSeconds = options.durationMillis() / 1000.0;
    double bucketSeconds = Recovery.BUCKET_MILLIS / 1000.0;
    double max = options.rate();
    for (double[] s : series) {
      for (double v : s) {
        max = Math.max(max, v);
      }
    }
    double yStep = niceStep(max / 5);
    double yMax = Math.ceil(max * 1.05 / yStep) * yStep;
    double xStep = niceStep(durationSeconds / 12);
    Plot p = new Plot(durationSeconds, yMax);

    StringBuilder svg = new StringBuilder();
    svg.append(
        String.format(
            Locale.ROOT,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d"
                + " %d\" role=\"img\" aria-label=\"%s over time, one line per set-up\""
                + " font-family=\"system-ui,sans-serif\" font-size=\"13\">\n",
            WIDTH,
            HEIGHT,
            WIDTH,
            HEIGHT,
            escape(what)));
    svg.append(
        String.format(
            Locale.ROOT,
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            WIDTH,
            HEIGHT));

    // The trigger, shaded behind everything else.
    if (scenario.hasTrigger()) {
      shadeTrigger(svg, options, scenario, p);
    }
    gridAndLines(svg, options, results, series, yLabel, p, yMax, yStep, xStep, durationSeconds,
        bucketSeconds);
    svg.append("</svg>\n");
    return svg.toString();
  }

  private static void shadeTrigger(
      StringBuilder svg, LabOptions options, Scenario scenario, Plot p) {
    double x0 = p.x(options.triggerStartMillis() / 1000.0);
    double x1 = p.x(options.triggerEndMillis() / 1000.0);
    svg.append(
        String.format(
            Locale.ROOT,
            "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#f5b841\""
                + " fill-opacity=\"0.22\"/>\n",
            x0,
            TOP,
            x1 - x0,
            HEIGHT - TOP - BOTTOM));
    svg.append(
        String.format(
            Locale.ROOT,
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#8a5a00\">%s</text>\n",
            (x0 + x1) / 2,
            // Just above the plot area, where no line can run through it.
            TOP - 7,
            escape(
                scenario == Scenario.LATENCY || scenario == Scenario.SHEDDING
                    ? "trigger: " + scenario.cliName() + ", service time x"
                        + LabOptions.secondsText(Math.round(options.slowdown() * 1000))
                    : "trigger: " + scenario.cliName())));
  }

  private static void gridAndLines(
      StringBuilder svg,
      LabOptions options,
      List<SetupResult> results,
      double[][] series,
      String yLabel,
      Plot p,
      double yMax,
      double yStep,
      double xStep,
      double durationSeconds,
      double bucketSeconds) {
    // Grid, ticks and labels.
    for (double v = 0; v <= yMax + yStep / 2; v += yStep) {
      double y = p.y(v);
      svg.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n"
                  + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#444\">%s</text>\n",
              LEFT,
              y,
              WIDTH - RIGHT,
              y,
              LEFT - 8,
              y + 4,
              ResultTable.decimal(v)));
    }
    for (double t = 0; t <= durationSeconds + 1e-9; t += xStep) {
      double x = p.x(t);
      svg.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>\n"
                  + "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n",
              x,
              HEIGHT - BOTTOM,
              x,
              HEIGHT - BOTTOM + 5,
              x,
              HEIGHT - BOTTOM + 20,
              ResultTable.decimal(t)));
    }
    svg.append(
        String.format(
            Locale.ROOT,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n"
                + "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n",
            LEFT,
            TOP,
            LEFT,
            HEIGHT - BOTTOM,
            LEFT,
            HEIGHT - BOTTOM,
            WIDTH - RIGHT,
            HEIGHT - BOTTOM));
    svg.append(
        String.format(
            Locale.ROOT,
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#222\">seconds since the"
                + " start of the run</text>\n",
            (LEFT + WIDTH - RIGHT) / 2.0,
            HEIGHT - 10));
    svg.append(
        String.format(
            Locale.ROOT,
            "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\""
                + " fill=\"#222\">%s</text>\n",
            (TOP + HEIGHT - BOTTOM) / 2.0,
            escape(yLabel)));

    // The offered rate, for reference.
    double yOffered = p.y(options.rate());
    svg.append(
        String.format(
            Locale.ROOT,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#222\""
                + " stroke-dasharray=\"2 4\"/>\n"
                + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#222\">offered %d/s</text>\n",
            LEFT,
            yOffered,
            WIDTH - RIGHT,
            yOffered,
            WIDTH - RIGHT - 4,
            yOffered - 5,
            options.rate()));

    // One step line per set-up: a bucket's rate holds for the whole bucket. The thick solid line
    // of grpc-retry goes first, so that dashed lines that coincide with it stay visible on top.
    for (int i : drawingOrder(results)) {
      Setup setup = results.get(i).setup();
      StringBuilder points = new StringBuilder();
      for (int b = 0; b < series[i].length; b++) {
        double y = p.y(series[i][b]);
        points.append(
            String.format(
                Locale.ROOT,
                "%.1f,%.1f %.1f,%.1f ",
                p.x(b * bucketSeconds),
                y,
                p.x((b + 1) * bucketSeconds),
                y));
      }
      svg.append(
          String.format(
              Locale.ROOT,
              "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s"
                  + " stroke-linejoin=\"round\" points=\"%s\"/>\n",
              color(setup),
              setup == Setup.GRPC_RETRY ? "3" : "2",
              dash(setup).isEmpty() ? "" : " stroke-dasharray=\"" + dash(setup) + "\"",
              points.toString().trim()));
    }

    // The legend, in rows above the plot.
    double lx = LEFT;
    int ly = 12;
    for (SetupResult r : results) {
      Setup setup = r.setup();
      double entry = 36 + 6.6 * setup.label().length() + 18;
      if (lx > LEFT && lx + entry > WIDTH - RIGHT) {
        lx = LEFT;
        ly += 18;
      }
      svg.append(
          String.format(
              Locale.ROOT,
              "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"%s/>\n"
                  + "<text x=\"%.1f\" y=\"%d\" fill=\"#222\">%s</text>\n",
              lx,
              ly,
              lx + 30,
              ly,
              color(setup),
              dash(setup).isEmpty() ? "" : " stroke-dasharray=\"" + dash(setup) + "\"",
              lx + 36,
              ly + 5,
              escape(setup.label())));
      lx += entry;
    }
  }

  private static int[] drawingOrder(List<SetupResult> results) {
    int[] order = new int[results.size()];
    int next = 0;
    for (int i = 0; i < results.size(); i++) {
      if (results.get(i).setup() == Setup.GRPC_RETRY) {
        order[next++] = i;
      }
    }
    for (int i = 0; i < results.size(); i++) {
      if (results.get(i).setup() != Setup.GRPC_RETRY) {
        order[next++] = i;
      }
    }
    return order;
  }

  /** Colours from the Okabe-Ito palette, which colour-blind readers can tell apart. */
  static String color(Setup setup) {
    switch (setup) {
      case NO_RETRIES:
        return "#7a7a7a";
      case NAIVE:
        return "#d55e00";
      case GRPC_BUILTIN:
        return "#0072b2";
      case GRPC_RETRY:
        return "#009e73";
      case GRPC_RETRY_HEDGE:
        return "#cc79a7";
      case GRPC_RETRY_BREAKER:
        return "#e69f00";
      case GRPC_RETRY_THROTTLING:
        return "#56b4e9";
    }
    throw new AssertionError(setup);
  }

  /** A dash pattern per set-up, so that lines differ in print and where they overlap. */
  private static String dash(Setup setup) {
    switch (setup) {
      case NO_RETRIES:
        return "7 4";
      case GRPC_BUILTIN:
        return "3 3";
      default:
        return "";
    }
  }

  private static String swatch(Setup setup) {
    return "<span style=\"display:inline-block;width:14px;height:4px;margin:0 8px 3px 0;background:"
        + color(setup)
        + "\"></span>";
  }

  /** A step of 1, 2, 2.5 or 5 times a power of ten, at least {@code rough}. */
  static double niceStep(double rough) {
    if (!(rough > 0)) {
      return 1;
    }
    double magnitude = Math.pow(10, Math.floor(Math.log10(rough)));
    for (double m : new double[] {1, 2, 2.5, 5, 10}) {
      if (m * magnitude >= rough) {
        return m * magnitude;
      }
    }
    return 10 * magnitude;
  }

  static String escape(String text) {
    return text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\"", "&quot;");
  }

  /** Data to pixel coordinates of the plot area. */
  private static final class Plot {
    private final double xMax;
    private final double yMax;

    Plot(double xMax, double yMax) {
      this.xMax = xMax;
      this.yMax = yMax;
    }

    double x(double seconds) {
      return LEFT + (WIDTH - LEFT - RIGHT) * seconds / xMax;
    }

    double y(double value) {
      return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * value / yMax;
    }
  }
}
