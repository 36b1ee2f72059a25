package io.github.grpcretry.testing;

import static io.github.grpcretry.testing.Arguments.checkAtLeast;
import static io.github.grpcretry.testing.Arguments.checkNonNegative;
import static io.github.grpcretry.testing.Arguments.checkNotNull;
import static io.github.grpcretry.testing.Arguments.saturatedNanos;

import io.grpc.Context;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * A server interceptor that applies scripted {@link Fault}s to calls, method by method, and records
 * every attempt it sees.
 *
 * <p>Script a method with {@link #script(MethodDescriptor)}; each arriving attempt of that method
 * takes the next queued step, and once the steps are used up, the script's {@code otherwise} fault
 * (by default {@link Fault#pass()}). Methods without a script pass through. Install the injector
 * closest to the service, so that it sees what the service would see:
 *
 * <pre>{@code
 * FaultInjector faults = FaultInjector.create();
 * faults.script(ItemServiceGrpc.getGetItemMethod())
 *     .then(Fault.fail(Status.UNAVAILABLE), 2)
 *     .otherwise(Fault.pass());
 * ServerInterceptors.intercept(new DemoItemService(), faults);
 * }</pre>
 *
 * <p>It works for all four call types. Delays run on the {@link ManualClock} given to {@link
 * #create(ManualClock)}, or else on one daemon timer thread shared by all injectors.
 *
 * <p>This class is thread-safe: scripts may be changed and records read from any thread while calls
 * arrive; a lock serializes arrivals, so steps and random draws are taken in the order that
 * attempts are recorded.
 */
public final class FaultInjector implements ServerInterceptor {
  private static final Metadata.Key<String> PREVIOUS_ATTEMPTS_KEY =
      Metadata.Key.of("grpc-previous-rpc-attempts", Metadata.ASCII_STRING_MARSHALLER);
  private static final Status CANCELLED_BY_CLIENT =
      Status.CANCELLED.withDescription("the client cancelled the call or its deadline passed");

  private final @Nullable ManualClock clock;
  private final ScheduledExecutorService timer;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition attemptsChanged = lock.newCondition();
  private final Map<String, MethodScript> scripts = new HashMap<>(); // guarded by lock
  private final List<Attempt> attempts = new ArrayList<>(); // guarded by lock

  private FaultInjector(@Nullable ManualClock clock, ScheduledExecutorService timer) {
    this.clock = clock;
    this.timer = timer;
  }

  /**
   * Returns an injector that runs delays in real time and stamps attempts with {@link
   * System#nanoTime()}.
   */
  public static FaultInjector create() {
    return new FaultInjector(null, SharedTimer.INSTANCE);
  }

  /**
   * Returns an injector that runs delays on {@code clock}'s scheduler, so a delayed attempt goes on
   * only when the test moves the clock, and stamps attempts with {@code clock}'s time.
   */
  public static FaultInjector create(ManualClock clock) {
    checkNotNull(clock, "clock");
    return new FaultInjector(clock, clock.scheduler());
  }

  /** Returns the script of {@code method}; the same object every time for the same method. */
  public MethodScript script(MethodDescriptor<?, ?> method) {
    checkNotNull(method, "method");
    return script(method.getFullMethodName());
  }

  /**
   * Returns the script of the method named {@code fullMethodName}, such as {@code
   * "grpcretry.demo.v1.ItemService/GetItem"}; the same object every time for the same name.
   *
   * @throws IllegalArgumentException if the name has no {@code '/'} between service and method
   */
  public MethodScript script(String fullMethodName) {
    checkNotNull(fullMethodName, "fullMethodName");
    if (MethodDescriptor.extractFullServiceName(fullMethodName) == null) {
      throw new IllegalArgumentException(
          "fullMethodName must look like \"package.Service/Method\": \"" + fullMethodName + "\"");
    }
    lock.lock();
    try {
      return scripts.computeIfAbsent(fullMethodName, name -> new MethodScript(this, name));
    } finally {
      lock.unlock();
    }
  }

  /** Returns snapshots of all attempts of all methods, in arrival order. */
  public List<AttemptRecord> attempts() {
    lock.lock();
    try {
      List<AttemptRecord> records = new ArrayList<>(attempts.size());
      for (Attempt attempt : attempts) {
        records.add(attempt.snapshot());
      }
      return List.copyOf(records);
    } finally {
      lock.unlock();
    }
  }

  /** Returns snapshots of the attempts of {@code method}, in arrival order. */
  public List<AttemptRecord> attempts(MethodDescriptor<?, ?> method) {
    checkNotNull(method, "method");
    lock.lock();
    try {
      List<AttemptRecord> records = new ArrayList<>();
      for (Attempt attempt : attempts) {
        if (attempt.fullMethodName.equals(method.getFullMethodName())) {
          records.add(attempt.snapshot());
        }
      }
      return List.copyOf(records);
    } finally {
      lock.unlock();
    }
  }

  /** Returns how many attempts of {@code method} have arrived. */
  public int attemptCount(MethodDescriptor<?, ?> method) {
    checkNotNull(method, "method");
    lock.lock();
    try {
      return count(method.getFullMethodName(), false);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Blocks until at least {@code count} attempts of {@code method} have arrived, or {@code
   * realTimeout} of real time has passed.
   *
   * @return true if that many attempts arrived, false on timeout
   * @throws IllegalArgumentException if {@code count} or {@code realTimeout} is negative
   * @throws InterruptedException if the thread is interrupted while waiting
   */
  public boolean awaitAttempts(MethodDescriptor<?, ?> method, int count, Duration realTimeout)
      throws InterruptedException {
    return await(method, count, realTimeout, false);
  }

  /**
   * Blocks until at least {@code count} attempts of {@code method} have an {@linkplain
   * AttemptRecord#outcome() outcome}, or {@code realTimeout} of real time has passed.
   *
   * @return true if that many attempts were closed, false on timeout
   * @throws IllegalArgumentException if {@code count} or {@code realTimeout} is negative
   * @throws InterruptedException if the thread is interrupted while waiting
   */
  public boolean awaitClosed(MethodDescriptor<?, ?> method, int count, Duration realTimeout)
      throws InterruptedException {
    return await(method, count, realTimeout, true);
  }

  /**
   * Forgets all records and empties every script, so all methods pass through; scripts obtained
   * earlier stay attached and can be filled again.
   */
  public void reset() {
    lock.lock();
    try {
      for (MethodScript script : scripts.values()) {
        script.clear();
      }
      attempts.clear();
      attemptsChanged.signalAll();
    } finally {
      lock.unlock();
    }
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String fullMethodName = call.getMethodDescriptor().getFullMethodName();
    Attempt attempt;
    lock.lock();
    try {
      MethodScript script = scripts.get(fullMethodName);
      Fault fault = (script == null ? Fault.pass() : script.nextFault()).resolve();
      long startNanos = clock != null ? clock.nanoTime() : System.nanoTime();
      attempt =
          new Attempt(
              fullMethodName,
              previousAttempts(headers),
              startNanos,
              GrpcValues.copy(headers),
              fault);
      attempts.add(attempt);
      attemptsChanged.signalAll();
    } finally {
      lock.unlock();
    }
    ServerCall<ReqT, RespT> recordingCall = new RecordingCall<>(call, attempt);
    return new RecordingListener<>(apply(attempt.fault, recordingCall, headers, next), attempt);
  }

  @Override
  public String toString() {
    lock.lock();
    try {
      return "FaultInjector{scripts=" + scripts.values() + ", attempts=" + attempts.size() + "}";
    } finally {
      lock.unlock();
    }
  }

  private <ReqT, RespT> ServerCall.Listener<ReqT> apply(
      Fault fault,
      ServerCall<ReqT, RespT> call,
      Metadata headers,
      ServerCallHandler<ReqT, RespT> next) {
    switch (fault.kind()) {
      case PASS:
        return next.startCall(call, headers);
      case FAIL:
        fault.closeWithFailure(call);
        return new ServerCall.Listener<>() {};
      case CLOSE_WITHOUT_RESPONSE:
        call.close(Status.OK, new Metadata());
        return new ServerCall.Listener<>() {};
      case HANG:
        // Read the requests, as a stuck server would, so that records show what it received.
        call.request(Integer.MAX_VALUE);
        return new ServerCall.Listener<>() {};
      case FAIL_AFTER_MESSAGES:
        return next.startCall(
            new TruncatingCall<>(call, fault.messages(), fault.status()), headers);
      case DELAY:
        return delay(fault, call, headers, next);
      case RANDOMLY:
        throw new AssertionError("randomly faults are resolved on arrival: " + fault);
    }
    throw new AssertionError(fault.kind());
  }

  private <ReqT, RespT> ServerCall.Listener<ReqT> delay(
      Fault fault,
      ServerCall<ReqT, RespT> call,
      Metadata headers,
      ServerCallHandler<ReqT, RespT> next) {
    DelayedListener<ReqT> delayed = new DelayedListener<>();
    // The service expects to run in the call's context (deadline, cancellation), as it would
    // without the delay; the timer thread has none of its own.
    Runnable resume =
        Context.current()
            .wrap(
                () -> {
                  if (!delayed.isCancelled()) {
                    delayed.start(apply(fault.next(), call, headers, next));
                  }
                });
    delayed.setTimer(timer.schedule(resume, saturatedNanos(fault.delay()), TimeUnit.NANOSECONDS));
    return delayed;
  }

  private boolean await(
      MethodDescriptor<?, ?> method, int count, Duration realTimeout, boolean closed)
      throws InterruptedException {
    checkNotNull(method, "method");
    checkAtLeast(count, 0, "count");
    checkNonNegative(realTimeout, "realTimeout");
    long remaining = saturatedNanos(realTimeout);
    lock.lockInterruptibly();
    try {
      while (count(method.getFullMethodName(), closed) < count) {
        if (remaining <= 0) {
          return false;
        }
        remaining = attemptsChanged.awaitNanos(remaining);
      }
      return true;
    } finally {
      lock.unlock();
    }
  }

  /** Counts attempts of the method, only closed ones if {@code closed}; caller holds lock. */
  private int count(String fullMethodName, boolean closed) {
    int count = 0;
    for (Attempt attempt : attempts) {
      if (attempt.fullMethodName.equals(fullMethodName) && (!closed || attempt.outcome != null)) {
        count++;
      }
    }
    return count;
  }

  private void recordRequest(Attempt attempt, Object request) {
    lock.lock();
    try {
      attempt.requests.add(request);
    } finally {
      lock.unlock();
    }
  }

  /** Records the first outcome of an attempt; later ones (a cancel after close) are ignored. */
  private void recordOutcome(Attempt attempt, Status outcome) {
    lock.lock();
    try {
      if (attempt.outcome == null) {
        attempt.outcome = outcome;
        attemptsChanged.signalAll();
      }
    } finally {
      lock.unlock();
    }
  }

  private static int previousAttempts(Metadata headers) {
    String value = headers.get(PREVIOUS_ATTEMPTS_KEY);
    if (value == null) {
      return 0;
    }
    // parseInt alone would also accept signs and non-ASCII digits.
    if (value.isEmpty() || !value.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return -1;
    }
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException tooLarge) {
      return -1;
    }
  }

  /**
   * The steps scripted for one method: the faults for the next attempts, then a fallback.
   *
   * <p>This class is thread-safe: it shares its injector's lock, so steps are taken in arrival
   * order even while the test adds more.
   */
  public static final class MethodScript {
    private final FaultInjector injector;
    private final String fullMethodName;
    private final ArrayDeque<Step> steps = new ArrayDeque<>(); // guarded by injector.lock
    private Fault otherwise = Fault.pass(); // guarded by injector.lock

    private MethodScript(FaultInjector injector, String fullMethodName) {
      this.injector = injector;
      this.fullMethodName = fullMethodName;
    }

    /** Returns the full name of the scripted method. */
    public String fullMethodName() {
      return fullMethodName;
    }

    /** Queues {@code fault} for one attempt, after the steps already queued. */
    public MethodScript then(Fault fault) {
      return then(fault, 1);
    }

    /**
     * Queues {@code fault} for the next {@code times} attempts, after the steps already queued;
     * zero times queues nothing.
     *
     * @throws IllegalArgumentException if {@code times} is negative
     */
    public MethodScript then(Fault fault, int times) {
      checkNotNull(fault, "fault");
      checkAtLeast(times, 0, "times");
      injector.lock.lock();
      try {
        if (times > 0) {
          steps.add(new Step(fault, times));
        }
        return this;
      } finally {
        injector.lock.unlock();
      }
    }

    /** Sets the fault for attempts that arrive once the queued steps are used up. */
    public MethodScript otherwise(Fault fault) {
      checkNotNull(fault, "fault");
      injector.lock.lock();
      try {
        otherwise = fault;
        return this;
      } finally {
        injector.lock.unlock();
      }
    }

    /** Takes the fault for an arriving attempt; caller holds the injector's lock. */
    private Fault nextFault() {
      Step step = steps.peek();
      if (step == null) {
        return otherwise;
      }
      if (--step.remaining == 0) {
        steps.poll();
      }
      return step.fault;
    }

    /** Empties the script; caller holds the injector's lock. */
    private void clear() {
      steps.clear();
      otherwise = Fault.pass();
    }

    @Override
    public String toString() {
      injector.lock.lock();
      try {
        StringBuilder text = new StringBuilder("MethodScript{").append(fullMethodName);
        for (Step step : steps) {
          text.append(", then ").append(step.fault).append(" x").append(step.remaining);
        }
        return text.append(", otherwise ").append(otherwise).append('}').toString();
      } finally {
        injector.lock.unlock();
      }
    }
  }

  private static final class Step {
    final Fault fault;
    int remaining; // guarded by the injector's lock

    Step(Fault fault, int remaining) {
      this.fault = fault;
      this.remaining = remaining;
    }
  }

  /** The live state of one attempt; fields that change are guarded by the injector's lock. */
  private static final class Attempt {
    final String fullMethodName;
    final int previousAttempts;
    final long startNanos;
    final Metadata headers;
    final Fault fault;
    final List<Object> requests = new ArrayList<>();
    @Nullable Status outcome;

    Attempt(
        String fullMethodName,
        int previousAttempts,
        long startNanos,
        Metadata headers,
        Fault fault) {
      this.fullMethodName = fullMethodName;
      this.previousAttempts = previousAttempts;
      this.startNanos = startNanos;
      this.headers = headers;
      this.fault = fault;
    }

    AttemptRecord snapshot() {
      return new AttemptRecord(
          fullMethodName, previousAttempts, startNanos, headers, requests, outcome, fault);
    }
  }

  /** Records the status the call is closed with, before the client can observe it. */
  private final class RecordingCall<ReqT, RespT> extends SimpleForwardingServerCall<ReqT, RespT> {
    private final Attempt attempt;

    RecordingCall(ServerCall<ReqT, RespT> delegate, Attempt attempt) {
      super(delegate);
      this.attempt = attempt;
    }

    @Override
    public void close(Status status, Metadata trailers) {
      recordOutcome(attempt, status);
      super.close(status, trailers);
    }
  }

  /** Records requests and client cancellation. */
  private final class RecordingListener<ReqT> extends SimpleForwardingServerCallListener<ReqT> {
    private final Attempt attempt;

    RecordingListener(ServerCall.Listener<ReqT> delegate, Attempt attempt) {
      super(delegate);
      this.attempt = attempt;
    }

    @Override
    public void onMessage(ReqT message) {
      recordRequest(attempt, message);
      super.onMessage(message);
    }

    @Override
    public void onCancel() {
      // Recorded last, so that a test awaiting the outcome sees the cancellation fully handled.
      try {
        super.onCancel();
      } finally {
        recordOutcome(attempt, CANCELLED_BY_CLIENT);
      }
    }
  }

  /**
   * Lets the service's first {@code limit} messages through, then closes the call with the fault's
   * status and drops whatever the service sends afterwards.
   *
   * <p>The service calls it like any ServerCall, one thread at a time; {@code closed} is volatile
   * only because {@code isReady()} may be asked from any thread.
   */
  private static final class TruncatingCall<ReqT, RespT>
      extends SimpleForwardingServerCall<ReqT, RespT> {
    private final int limit;
    private final Status status;
    private int sent;
    private volatile boolean closed;

    TruncatingCall(ServerCall<ReqT, RespT> delegate, int limit, Status status) {
      super(delegate);
      this.limit = limit;
      this.status = status;
    }

    @Override
    public void request(int numMessages) {
      if (!closed) {
        super.request(numMessages);
      }
    }

    @Override
    public void sendHeaders(Metadata headers) {
      // With limit 0 the whole response is lost, headers included: a client that saw headers
      // would know the call reached the service, and a retrying client commits on them.
      if (!closed && limit > 0) {
        super.sendHeaders(headers);
      }
    }

    @Override
    public void sendMessage(RespT message) {
      if (closed) {
        return;
      }
      if (limit == 0) {
        closeWithFault();
        return;
      }
      super.sendMessage(message);
      if (++sent >= limit) {
        closeWithFault();
      }
    }

    @Override
    public void close(Status handlerStatus, Metadata trailers) {
      if (closed) {
        return;
      }
      if (limit == 0) {
        closeWithFault();
      } else {
        closed = true;
        super.close(handlerStatus, trailers);
      }
    }

    @Override
    public boolean isReady() {
      return !closed && super.isReady();
    }

    private void closeWithFault() {
      closed = true;
      super.close(status, new Metadata());
    }
  }

  /**
   * Holds listener events while a delay runs, then hands them, and all later events, to the
   * listener of the fault applied after the delay.
   *
   * <p>gRPC delivers events one at a time, but the delay ends on the timer's thread, so the
   * hand-over is guarded by a lock and drains events that arrive while it runs.
   */
  private static final class DelayedListener<ReqT> extends ServerCall.Listener<ReqT> {
    private final Object lock = new Object();
    private List<Consumer<ServerCall.Listener<ReqT>>> pending = new ArrayList<>(); // lock
    private ServerCall.@Nullable Listener<ReqT> delegate; // guarded by lock
    private @Nullable Future<?> timer; // guarded by lock
    private boolean cancelled; // guarded by lock

    void setTimer(Future<?> scheduled) {
      synchronized (lock) {
        if (!cancelled) {
          timer = scheduled;
          return;
        }
      }
      scheduled.cancel(false);
    }

    boolean isCancelled() {
      synchronized (lock) {
        return cancelled;
      }
    }

    /** Hands the held events, in order, to {@code listener}, then makes it the delegate. */
    void start(ServerCall.Listener<ReqT> listener) {
      while (true) {
        List<Consumer<ServerCall.Listener<ReqT>>> events;
        synchronized (lock) {
          if (pending.isEmpty()) {
            delegate = listener;
            return;
          }
          events = pending;
          pending = new ArrayList<>();
        }
        for (Consumer<ServerCall.Listener<ReqT>> event : events) {
          event.accept(listener);
        }
      }
    }

    @Override
    public void onMessage(ReqT message) {
      deliver(listener -> listener.onMessage(message));
    }

    @Override
    public void onHalfClose() {
      deliver(ServerCall.Listener::onHalfClose);
    }

    @Override
    public void onReady() {
      deliver(ServerCall.Listener::onReady);
    }

    @Override
    public void onComplete() {
      deliver(ServerCall.Listener::onComplete);
    }

    @Override
    public void onCancel() {
      Future<?> pendingTimer;
      synchronized (lock) {
        cancelled = true;
        pendingTimer = timer;
        timer = null;
      }
      if (pendingTimer != null) {
        pendingTimer.cancel(false);
      }
      deliver(ServerCall.Listener::onCancel);
    }

    private void deliver(Consumer<ServerCall.Listener<ReqT>> event) {
      ServerCall.Listener<ReqT> target;
      synchronized (lock) {
        target = delegate;
        if (target == null) {
          pending.add(event);
          return;
        }
      }
      event.accept(target);
    }
  }

  /**
   * The real-time timer for delays of injectors without a clock. It is static because an injector
   * has no close() at which to stop a thread of its own; it holds no state a test could observe,
   * and its single daemon thread starts on first use and never keeps the JVM alive.
   */
  private static final class SharedTimer {
    static final ScheduledExecutorService INSTANCE = create();

    private static ScheduledExecutorService create() {
      ScheduledThreadPoolExecutor executor =
          new ScheduledThreadPoolExecutor(
              1,
              runnable -> {
                Thread thread = new Thread(runnable, "grpc-retry-fault-injector-timer");
                thread.setDaemon(true);
                return thread;
              });
      executor.setRemoveOnCancelPolicy(true);
      return executor;
    }
  }
}
