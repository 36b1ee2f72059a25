package io.github.grpcretry.stress;

import io.github.grpcretry.AttemptFailure;
import io.github.grpcretry.StatusClassifier;

/**
 * The default classifier, except that it throws on the n-th classification of a call whose plan
 * says so: user code that breaks its contract, which the interceptor must survive without hanging
 * the call.
 *
 * <p>Thread-safe.
 */
final class MisbehavingClassifier implements StatusClassifier {
  private final Attribution attribution;
  private final Figures figures;
  private final StatusClassifier delegate = StatusClassifier.defaultClassifier();

  MisbehavingClassifier(Attribution attribution, Figures figures) {
    this.attribution = attribution;
    this.figures = figures;
  }

  @Override
  public Category classify(AttemptFailure failure) {
    CallRecord record = attribution.current();
    if (record != null) {
      int n = record.classifierCalled();
      if (n == record.plan.actions().classifierThrowsAt()) {
        record.classifierThrew();
        figures.count("user code", "classifier threw");
        throw new IllegalStateException("stress: scripted failure in StatusClassifier.classify");
      }
    } else {
      figures.count("user code", "classifier calls not attributed to a call");
    }
    return delegate.classify(failure);
  }

  @Override
  public String toString() {
    return "MisbehavingClassifier(" + delegate + ")";
  }
}
