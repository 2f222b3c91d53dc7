#!/usr/bin/env bash
# A minimal Debian bookworm tree with systemd, for the slow tests (the .deb
# install test and the systemd-nspawn boot test). Built once with debootstrap
# from Debian's packages and cached outside the repository; the tests mount an
# overlay on it, so the cached tree is never changed.
#
#   image/make-test-rootfs.sh [DEST]     (default /var/cache/sealbox-test/rootfs)
# The mirror is the host's own (its apt sources), or SEALBOX_DEBIAN_MIRROR.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
dest=${1:-/var/cache/sealbox-test/rootfs}
[ -f "$dest/.sealbox-rootfs" ] && { echo "$dest"; exit 0; }
# shellcheck source=lib/mirror.sh
. "$here/lib/mirror.sh"
mirror=$(debian_mirror)
[ "$(id -u)" -eq 0 ] || { echo "make-test-rootfs: debootstrap needs root" >&2; exit 77; }
command -v debootstrap >/dev/null || { echo "make-test-rootfs: debootstrap is not installed" >&2; exit 77; }
rm -rf "$dest.tmp"
mkdir -p "$(dirname "$dest")"
echo "make-test-rootfs: debootstrap bookworm from $mirror into $dest (about a minute)" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libsystemd0 bookworm "$dest.tmp" "$mirror" >"$dest.log" 2>&1 \
  || { echo "make-test-rootfs: debootstrap failed (see $dest.log)" >&2; exit 1; }
touch "$dest.tmp/.sealbox-rootfs"
mv "$dest.tmp" "$dest"
echo "$dest"
