#!/usr/bin/env bash
# Builds the benchmark jar and runs the paired mode: every set-up side by side in one JVM, in
# short interleaved slices; see docs/BENCHMARKS.md, "Paired mode".
#
#   benchmarks/paired.sh              the default run (unary GetItem, 60 rounds of 150 ms slices)
#   benchmarks/paired.sh ARGS...      with these options, for example
#                                     benchmarks/paired.sh --scenario upload-items --rounds 100
#                                     benchmarks/paired.sh --rounds 3 --slice-ms 20 --warmup-ms 50
#                                     benchmarks/paired.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

# Maven's output goes to stderr, so that stdout is the report alone: benchmarks/paired.sh > run.md
mvn -B -q -Dstyle.color=never -pl benchmarks -am package -DskipTests >&2

exec java -cp benchmarks/target/benchmarks.jar io.github.grpcretry.benchmarks.PairedBenchmark "$@"
