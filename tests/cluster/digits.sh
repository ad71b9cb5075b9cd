#!/usr/bin/env bash
# digits.sh BIN_DIR RANKS [--no-1e6]: pi-compute on RANKS ranks against pi-reference (MPFR),
# byte for byte, for every N of the compute issue, through a file and through stdout; the
# SHA-256 of the first 1,000,000 decimals; and the guard-digit recomputation path.
set -euo pipefail
bin=$1
np=$2
big=1
[ "${3:-}" = "--no-1e6" ] && big=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
run() { mpirun --oversubscribe -np "$np" "$bin/pi-compute" "$@"; }

sizes="1 2 9 10 14 15 16 100 999 1000 12345 100000"
[ "$big" -eq 1 ] && sizes="$sizes 1000000"
for n in $sizes; do
  "$bin/pi-reference" --digits "$n" >"$tmp/ref"
  run --digits "$n" --output "$tmp/out"
  if ! cmp -s "$tmp/out" "$tmp/ref"; then
    echo "FAIL: $np ranks, $n digits: file differs from MPFR"
    fail=1
  fi
  if [ "$n" -le 100000 ]; then
    if ! run --digits "$n" --output - | cmp -s - "$tmp/ref"; then
      echo "FAIL: $np ranks, $n digits: stdout differs from MPFR"
      fail=1
    fi
  fi
  if [ "$n" -eq 1000000 ]; then
    sha=$(tail -c +3 "$tmp/out" | head -c 1000000 | sha256sum | cut -d' ' -f1)
    if [ "$sha" != 7806ee47461b49ef1f578e14461b2c83c09c6d7a9a914275da1d71e9cbbf7069 ]; then
      echo "FAIL: $np ranks: SHA-256 of the first 1,000,000 decimals is $sha"
      fail=1
    fi
  fi
  echo "ok: $np ranks, $n digits"
done
compgen -G "$tmp/*.tmp.*" >/dev/null && { echo "FAIL: temporary file left behind"; fail=1; }

# The Feynman point: decimals 762-767 are 999999, so 3 guard digits after decimal 761 cannot
# settle the truncation and pi-compute must recompute with more.
"$bin/pi-reference" --digits 761 >"$tmp/ref"
PI_COMPUTE_GUARD_DIGITS=3 run --digits 761 --output "$tmp/out" --timings 2>"$tmp/err"
cmp -s "$tmp/out" "$tmp/ref" || { echo "FAIL: recomputation at the Feynman point"; fail=1; }
grep -q 'recomputed' "$tmp/err" || { echo "FAIL: no recomputation reported"; cat "$tmp/err"; fail=1; }
exit $fail
