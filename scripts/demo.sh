#!/usr/bin/env bash
# The main job on an embedded default: installs what it needs, starts a real
# registry on loopback holding the scenario's image, then pulls, unpacks and
# mounts it with ocimount and prints the scenario's answers read from the mount.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/scripts/demo.js "$@"
