package io.github.grpcretry.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class RecoveryTest {

  @Test
  void findsTheFirstBucketOfASustainedRun() {
    long[] counts = {10, 10, 0, 9, 10, 10, 3, 10, 10, 10, 10};

    assertThat(Recovery.firstSustainedBucket(counts, 9, 2, counts.length, 3)).isEqualTo(3);
    assertThat(Recovery.firstSustainedBucket(counts, 10, 2, counts.length, 3)).isEqualTo(7);
    assertThat(Recovery.firstSustainedBucket(counts, 10, 2, counts.length, 5)).isEqualTo(-1);
  }

  @Test
  void runMustFitBeforeTheEnd() {
    long[] counts = {0, 10, 10, 10};

    assertThat(Recovery.firstSustainedBucket(counts, 10, 0, 3, 3)).isEqualTo(-1);
    assertThat(Recovery.firstSustainedBucket(counts, 10, 0, 4, 3)).isEqualTo(1);
  }

  @Test
  void holdMustBePositive() {
    assertThatThrownBy(() -> Recovery.firstSustainedBucket(new long[1], 1, 0, 1, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("hold must be >= 1: 0");
  }

  @Test
  void recoveryIsMeasuredFromTheTriggersEndInWholeBuckets() {
    // 400 calls/s: 100 per 250 ms bucket, so 95 are needed; the trigger ends at 1 s (bucket 4).
    long[] counts = {100, 100, 0, 0, 10, 60, 95, 99, 100, 97, 100, 100};

    assertThat(Recovery.millisToRecover(counts, 400, 1000)).isEqualTo(500);
  }

  @Test
  void aTriggerEndingInsideABucketCountsFromTheNextBucket() {
    long[] counts = {100, 100, 0, 100, 100, 100, 100, 100};

    // Ends at 600 ms, inside bucket 2: the first whole bucket after it starts at 750 ms.
    assertThat(Recovery.millisToRecover(counts, 400, 600)).isEqualTo(150);
  }

  @Test
  void noRecoveryWithinTheRunIsMinusOne() {
    long[] counts = {100, 100, 0, 0, 100, 100, 100, 50};

    assertThat(Recovery.millisToRecover(counts, 400, 500)).isEqualTo(-1);
  }
}
