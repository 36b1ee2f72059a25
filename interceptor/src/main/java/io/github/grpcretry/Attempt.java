package io.github.grpcretry;

import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.concurrent.ScheduledFuture;
import org.jspecify.annotations.Nullable;

/**
 * One attempt of a {@link RetryingCall}: a call on the channel below, and the listener that
 * receives its callbacks and hands them to its owner.
 *
 * <p>Its state is two independent values, both guarded by the owner's lock: where the attempt is
 * in its life ({@link Stage}) and what the call makes of it ({@link Fate}); plus whether a
 * cancellation still has to be sent to it ({@link CancelOrder}). Only the owner's outbound pump
 * touches {@link #call} and the cursors.
 */
final class Attempt<ReqT, RespT> extends ClientCall.Listener<RespT> {
  /** Where an attempt is in its life; it only moves forward. */
  enum Stage {
    /** Created; the pump has not started it on the channel yet. */
    PENDING,
    /** Started (or being started); the pump is catching it up with the outbound log. */
    REPLAYING,
    /** Caught up with the log at least once: its readiness counts. */
    LIVE,
    /** Closed by the channel; the judge is deciding what its end means for the call. */
    JUDGING,
    /** Finished: nothing more of it matters. */
    CLOSED
  }

  /** What the call makes of an attempt. */
  enum Fate {
    /** It may win: its responses commit the call. */
    CONTENDING,
    /**
     * Cancelled for its per-attempt timeout and replaced; an answer the server had already sent
     * still counts.
     */
    TIMED_OUT,
    /** Lost to another attempt, or the call ended: its callbacks are dropped. */
    ABANDONED
  }

  /** Whether the attempt must be, or has been, cancelled. */
  enum CancelOrder {
    NONE,
    /** The pump must send a cancellation, {@link #cancelWith}. */
    PENDING,
    /** Cancelled. */
    SENT,
    /**
     * Cancelled, and asked for every message its transport still holds, so that its close comes
     * although nobody reads it: for abandoned attempts only.
     */
    DRAINED
  }

  final RetryingCall<ReqT, RespT> owner;
  /** 1 for the call's first attempt. */
  final int number;

  // Written by the pump before start(); read by others only once the stage is past PENDING.
  volatile @Nullable ClientCall<ReqT, RespT> call;

  // Guarded by the owner's lock.
  Stage stage = Stage.PENDING;
  Fate fate = Fate.CONTENDING;
  CancelOrder cancel = CancelOrder.NONE;
  /** What the attempt is cancelled with: description and cause, as given to {@code cancel}. */
  @Nullable Status cancelWith;
  /** The number of the next log entry to send. */
  long sent;
  /** How many messages have been requested from it. */
  int requestSent;
  /** An onReady came while it was still catching up: the pump delivers one when it is live. */
  boolean readyMissed;
  /** It holds a permission of the call's circuit breaker whose result is still to be told. */
  boolean breakerOwed;
  @Nullable ScheduledFuture<?> timer;
  /** The next attempt of the same call that is not closed yet, in the order of creation. */
  @Nullable Attempt<ReqT, RespT> next;

  Attempt(RetryingCall<ReqT, RespT> owner, int number) {
    this.owner = owner;
    this.number = number;
  }

  /** Orders a cancellation unless one was ordered before (under the owner's lock). */
  void orderCancel(Status with) {
    if (cancel == CancelOrder.NONE) {
      cancel = CancelOrder.PENDING;
      cancelWith = with;
    }
  }

  @Override
  public void onHeaders(Metadata headers) {
    owner.response(this, RetryingCall.CB_HEADERS, headers);
  }

  @Override
  public void onMessage(RespT message) {
    owner.response(this, RetryingCall.CB_MESSAGE, message);
  }

  @Override
  public void onReady() {
    owner.attemptReady(this);
  }

  @Override
  public void onClose(Status status, Metadata trailers) {
    owner.attemptClosed(this, status, trailers);
  }

  @Override
  public String toString() {
    return "attempt " + number + " (" + stage + ", " + fate + ")";
  }
}
