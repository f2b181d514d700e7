#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test.
# Usage: scripts/test.sh [test files or name patterns...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OCIMOUNT_TEST_TMP="${OCIMOUNT_TEST_TMP:-$(mktemp -d /tmp/ocimount-test.XXXXXX)}"
chmod 0755 "$OCIMOUNT_TEST_TMP"
status=0
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(find dist/test -name '*.test.js' | sort)
fi
# One file at a time: mount tests and registry servers are heavy on 2 cores.
node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec "${files[@]}" || status=$?
# Any mount a crashed test left behind is reported and removed (only ours: under the test tmp dir).
left=$(awk -v d="$OCIMOUNT_TEST_TMP" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
if [ -n "$left" ]; then
  echo "test.sh: mounts left behind by tests (a defect): $left" >&2
  for m in $left; do umount -l "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true; done
  status=1
fi
rm -rf "$OCIMOUNT_TEST_TMP" 2>/dev/null || true
exit $status
