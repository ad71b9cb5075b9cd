#!/usr/bin/env bash
# bad_input.sh BIN_DIR RANKS: every kind of bad input ends with exit code 2, a one-line
# message on stderr naming the problem, and no file created.
set -uo pipefail
bin=$1
np=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

expect_usage() { # expect_usage WORD ARGS...
  local word=$1
  shift
  # -q: mpirun's own notice about a non-zero exit is not pi-compute's message.
  mpirun -q --oversubscribe -np "$np" "$bin/pi-compute" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  local lines
  lines=$(grep -c . "$tmp/stderr")
  if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -q -- "$word" "$tmp/stderr"; then
    echo "FAIL: pi-compute $*: exit $rc, stderr:"
    cat "$tmp/stderr"
    fail=1
  fi
  if [ -s "$tmp/stdout" ]; then
    echo "FAIL: pi-compute $*: wrote to stdout"
    fail=1
  fi
  if [ -n "$(ls -A "$tmp/out")" ]; then
    echo "FAIL: pi-compute $*: left files: $(ls -A "$tmp/out")"
    fail=1
  fi
}

mkdir "$tmp/out"
o="$tmp/out/pi.txt"
expect_usage "missing --digits" --output "$o"
expect_usage "at least 1" --digits 0 --output "$o"
expect_usage "negative" --digits -3 --output "$o"
expect_usage "not a positive integer" --digits abc --output "$o"
expect_usage "not a positive integer" --digits 1.5 --output "$o"
expect_usage "too large" --digits 99999999999999999999999 --output "$o"
expect_usage "too large" --digits 18446744073709551616 --output "$o"
expect_usage "unknown argument" --digits 10 --output "$o" --fast
expect_usage "missing --output" --digits 10
expect_usage "needs a value" --output "$o" --digits
expect_usage "cannot create" --digits 10 --output "$tmp/out/no/such/dir/pi.txt"
expect_usage "is a directory" --digits 10 --output "$tmp/out"
expect_usage "cannot create" --digits 10 --output /proc/pi.txt
expect_usage "not a job id" --digits 10 --job-id ../../etc --redis redis://127.0.0.1:1 \
  --store "file://$tmp/out"
[ "$fail" -eq 0 ] && echo "ok: bad input on $np ranks"
exit $fail
