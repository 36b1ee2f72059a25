package io.github.grpcretry.stress;

import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;

/**
 * What the server does on one attempt of a call: when it acts, how long it waits first, whether it
 * sends headers, how many messages, and how it ends (OK, an error with an optional retry hint, or
 * not at all until the client cancels).
 *
 * <p>Scripts travel to the server in the {@link StressHeaders#SCRIPT} request header, one entry per
 * attempt, so the server needs no shared state to know what to do.
 *
 * <p>Thread-safe: immutable.
 */
record AttemptScript(
    Trigger trigger,
    int delayMicros,
    boolean headers,
    int messages,
    End end,
    Status.Code code,
    Hint hint,
    String hintValue) {

  /** When the server acts on the attempt. */
  enum Trigger {
    /** As soon as the call reaches the service, before any request message. */
    START,
    /** On the first request message. */
    FIRST_MESSAGE,
    /** When the client half-closes. */
    HALF_CLOSE
  }

  /** How the attempt ends on the server. */
  enum End {
    OK,
    ERROR,
    /** Never, until the client cancels. */
    HANG
  }

  /** A retry hint in the error's trailers. */
  enum Hint {
    NONE,
    /** {@code grpc-retry-pushback-ms} with a small valid value. */
    PUSHBACK,
    /** {@code grpc-retry-pushback-ms} negative or unparseable: "do not retry". */
    BAD_PUSHBACK,
    /** {@code google.rpc.RetryInfo} in {@code grpc-status-details-bin}. */
    RETRY_INFO
  }

  AttemptScript {
    if (messages > 0 && !headers) {
      throw new IllegalArgumentException("messages need headers first");
    }
    if (hintValue.indexOf(',') >= 0 || hintValue.indexOf('|') >= 0) {
      throw new IllegalArgumentException("hint value must not contain ',' or '|': " + hintValue);
    }
  }

  /** The behaviour for attempts beyond the script: an engine that sends them is already wrong. */
  static AttemptScript beyondScript() {
    return new AttemptScript(
        Trigger.START, 0, false, 0, End.ERROR, Status.Code.FAILED_PRECONDITION, Hint.NONE, "");
  }

  String encode() {
    return trigger.ordinal()
        + ","
        + delayMicros
        + ","
        + (headers ? 1 : 0)
        + ","
        + messages
        + ","
        + end.ordinal()
        + ","
        + code.value()
        + ","
        + hint.ordinal()
        + ","
        + hintValue;
  }

  static AttemptScript decode(String text) {
    String[] f = text.split(",", -1);
    if (f.length != 8) {
      throw new IllegalArgumentException("not an attempt script: " + text);
    }
    return new AttemptScript(
        Trigger.values()[Integer.parseInt(f[0])],
        Integer.parseInt(f[1]),
        f[2].equals("1"),
        Integer.parseInt(f[3]),
        End.values()[Integer.parseInt(f[4])],
        Status.fromCodeValue(Integer.parseInt(f[5])).getCode(),
        Hint.values()[Integer.parseInt(f[6])],
        f[7]);
  }

  static String encodeAll(List<AttemptScript> scripts) {
    StringBuilder sb = new StringBuilder();
    for (AttemptScript s : scripts) {
      if (sb.length() > 0) {
        sb.append('|');
      }
      sb.append(s.encode());
    }
    return sb.toString();
  }

  static List<AttemptScript> decodeAll(String text) {
    List<AttemptScript> scripts = new ArrayList<>();
    for (String part : text.split("\\|")) {
      scripts.add(decode(part));
    }
    return scripts;
  }

  /** A short human description, e.g. {@code fail(UNAVAILABLE,pushback=2) after h+1m @halfClose}. */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder();
    switch (end) {
      case OK -> sb.append("ok");
      case HANG -> sb.append("hang");
      case ERROR -> {
        sb.append("fail(").append(code);
        switch (hint) {
          case PUSHBACK -> sb.append(",pushback=").append(hintValue);
          case BAD_PUSHBACK -> sb.append(",badPushback='").append(hintValue).append('\'');
          case RETRY_INFO -> sb.append(",retryInfo=").append(hintValue).append("ms");
          case NONE -> {}
        }
        sb.append(')');
      }
    }
    if (!headers) {
      sb.append(end == End.OK ? " trailers-only" : " before headers");
    } else {
      sb.append(" after h+").append(messages).append('m');
    }
    if (delayMicros > 0) {
      sb.append(" slow ").append(delayMicros).append("us");
    }
    sb.append(" @").append(
        switch (trigger) {
          case START -> "start";
          case FIRST_MESSAGE -> "firstMessage";
          case HALF_CLOSE -> "halfClose";
        });
    return sb.toString();
  }
}
