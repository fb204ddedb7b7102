#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (make fuzz).
# go test -fuzz takes one target per run, so the targets are found per
# package (func FuzzX(f *testing.F) in its _test.go files: what
# go test -list '^Fuzz' lists, without linking a test binary to ask) and run
# one after another.
#
# A target fails when it finds an input that fails it: Go then writes the
# input to the package's testdata/fuzz/FuzzX/, to be fixed and committed.
# Go 1.26's fuzz coordinator can also fail a run with a bare "context
# deadline exceeded" at the end of -fuzztime on a loaded machine, with no
# input written (go.dev/issue/75804, fixed in Go 1.27); such a run is
# reported and not counted as a failure.
set -euo pipefail
FUZZTIME=${FUZZTIME:-7s}
cd "$(dirname "$0")/.."

failed=0
for dir in $(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$dir"/*_test.go | sort -u); do
    echo "fuzz: $dir $target for $FUZZTIME"
    corpus="$dir/testdata/fuzz/$target"
    before=$(ls "$corpus" 2>/dev/null | sort || true)
    log=$(mktemp)
    if go test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" "./$dir" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
      rm -f "$log"
      continue
    fi
    after=$(ls "$corpus" 2>/dev/null | sort || true)
    if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q -e '^panic:' -e '_test.go:[0-9]*:' "$log"; then
      echo "fuzz: $target: Go's fuzz coordinator stopped with 'context deadline exceeded' and wrote no failing input (go.dev/issue/75804); not a failure"
    else
      echo "fuzz: $target FAILED; a failing input is in $corpus (commit it with the fix)"
      failed=1
    fi
    rm -f "$log"
  done
done
exit $failed
