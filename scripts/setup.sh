#!/usr/bin/env bash
# Installs everything ocimount and its tests need on Debian 12, then builds.
# Idempotent: skips what is already there. Must run as root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(docker-registry skopeo umoci fuse-overlayfs fuse3 libfuse2 attr zstd debootstrap apache2-utils openssl jq make g++ python3 util-linux kmod runc passwd)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run this script as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.ocimount-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
# fuse-native 2.2.6 sends the access time as the modification time to utimens and
# does not tell handlers who is calling. Our two-part fix (scripts/patches/) is built
# from source over the prebuilt binary (node-gyp-build prefers build/Release).
fn=node_modules/fuse-native
if ! grep -q fuse_native_caller "$fn/fuse-native.c"; then
  patch -s -d "$fn" -p1 --forward < scripts/patches/fuse-native-2.2.6.patch
  rm -rf "$fn/build"
fi
if [ ! -f "$fn/build/Release/fuse.node" ]; then
  echo "setup: building fuse-native with scripts/patches/fuse-native-2.2.6.patch" >&2
  npm run --silent build:fuse-native >/dev/null
fi
echo "setup: building native addon and TypeScript" >&2
npm run --silent build >/dev/null

if [ "$(id -u)" -eq 0 ]; then
  # Standard distributions make /dev/fuse 0666 (udev); this machine has no udev.
  # Unprivileged FUSE mounts (fusermount) need it.
  [ -e /dev/fuse ] && chmod 0666 /dev/fuse
  # Lets unprivileged users ask for --allow-other, as on a normal desktop setup.
  grep -qs '^user_allow_other' /etc/fuse.conf || echo user_allow_other >> /etc/fuse.conf
  modprobe overlay 2>/dev/null || true
  # The unprivileged user the tests run the CLI as (setpriv). fusermount3 refuses
  # a uid with no passwd entry ("could not determine username"), as real users have one.
  uid=${OCIMOUNT_TEST_UID:-4242}
  getent group "$uid" >/dev/null || groupadd -g "$uid" ocimount-test
  getent passwd "$uid" >/dev/null || useradd -u "$uid" -g "$uid" -M -d /nonexistent -s /usr/sbin/nologin ocimount-test
fi
