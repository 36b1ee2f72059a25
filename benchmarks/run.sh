#!/usr/bin/env bash
# Builds the benchmark jar and runs JMH; see docs/BENCHMARKS.md.
#
#   benchmarks/run.sh                 every benchmark, the full configuration below
#   benchmarks/run.sh ARGS...         JMH with exactly these arguments instead, for example
#                                     benchmarks/run.sh UnaryBenchmark -prof gc
#
# Run length (2 forks, 5 warm-up and 5 measured iterations of 2 s) is set on the benchmark
# classes, so it also applies when ARGS select benchmarks without giving -f, -wi, -i, -w or -r.
# The full configuration spells it out anyway, so that the command is the record of the run.
set -euo pipefail
cd "$(dirname "$0")/.."

FULL_CONFIGURATION=(-f 2 -wi 5 -i 5 -w 2s -r 2s -prof gc)

mvn -B -q -pl benchmarks -am package -DskipTests

if [[ $# -eq 0 ]]; then
  set -- "${FULL_CONFIGURATION[@]}"
fi
exec java -jar benchmarks/target/benchmarks.jar "$@"
