#!/usr/bin/env bash
# Run every test: cmocka unit tests, then the root integration tests.
# Prints each suite's own output and one final line:
#   total: N passed, N failed, N skipped
# Exit status is non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0

count() { # count PATTERN FILE -> the number in the first matching line, or 0
	local n
	n=$(grep -m1 -E "$1" "$2" | grep -oE '[0-9]+' | head -1)
	echo "${n:-0}"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in .output/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== unit: $(basename "$t")"
	"$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(count '^\[  PASSED  \]' "$log")
	f=$(count '^\[  FAILED  \]' "$log")
	s=$(count '^\[  SKIPPED \]' "$log")
	# A crashed binary prints no summary: count it as one failure.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

echo "== integration"
python3 tests/integration/run.py "$@" | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E '^integration: [0-9]+ passed' "$log" | tail -1)
if [ -n "$line" ]; then
	set -- $(echo "$line" | grep -oE '[0-9]+')
	passed=$((passed + $1)) failed=$((failed + $2)) skipped=$((skipped + $3))
fi
if [ "$rc" -ne 0 ] && [ -z "$line" ]; then failed=$((failed + 1)); fi

echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
