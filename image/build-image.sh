#!/usr/bin/env bash
# Builds the appliance's root file system as a read-only squashfs
# (`./build.sh image`): Debian bookworm from Debian's packages (debootstrap),
# the sealbox .deb, systemd, nftables (inbound: drop all; outbound: only UDP to
# the diode's address), no remote-login service, and a console on tty1 that
# opens `sealbox chat` for the engineer. Two builds with the same
# SOURCE_DATE_EPOCH and the same Debian archive state are byte-identical.
#
#   image/build-image.sh [--out DIR] [--diode HOST:PORT] [--deb FILE] [--kernel]
#     --out DIR          where sealbox-rootfs.squashfs goes (default out/)
#     --diode HOST:PORT  the diode receiver (IPv4); written to sealbox.toml, the
#                        unit's IPAddressAllow and nftables. Without it nothing leaves the box.
#     --deb FILE         the package to install (default: build it with build-deb.sh)
#     --address CIDR     the box's address on the diode link (systemd-networkd, interfaces en*/eth*)
#     --kernel           also install Debian's kernel + initramfs and copy vmlinuz and
#                        initrd.img next to the squashfs (to boot it; docs/image.md)
# docs/image.md says what the image trusts and how to write it to a disk.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
root=$(dirname "$here")
cd "$root"
out=$root/out
diode=""
deb=""
kernel=0
address=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(readlink -f "$2"); shift 2 ;;
    --diode) diode=$2; shift 2 ;;
    --deb) deb=$(readlink -f "$2"); shift 2 ;;
    --address) address=$2; shift 2 ;;
    --kernel) kernel=1; shift ;;
    *) echo "build-image.sh: unknown option $1" >&2; exit 64 ;;
  esac
done
say() { printf 'build-image: %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "needs root (debootstrap, chroot)"; exit 77; }
# shellcheck source=lib/mirror.sh
. "$here/lib/mirror.sh"
mirror=$(debian_mirror)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export LC_ALL=C.UTF-8 TZ=UTC

diode_host="" diode_port=""
if [ -n "$diode" ]; then
  diode_host=${diode%:*}
  diode_port=${diode##*:}
  [[ "$diode_host" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ && "$diode_port" =~ ^[0-9]{1,5}$ ]] || { say "--diode wants IPV4:PORT, got '$diode'"; exit 64; }
fi

if [ -z "$deb" ]; then
  deb=$(bash "$here/build-deb.sh" --out "$root/build/image-deb" | tail -1)
fi
[ -f "$deb" ] || { say "no package at $deb"; exit 1; }

# Debian's .deb files are cached across builds; the tree is private to this build.
cache=$root/build/image/debs
mkdir -p "$cache"
work=$(mktemp -d "$root/build/image/work.XXXXXX")
tree=$work/rootfs
cleanup() {
  for m in proc sys dev/pts dev; do umount -l "$tree/$m" 2>/dev/null || true; done
}
# --one-file-system: never follow a mount that failed to detach into the host.
trap 'cleanup; rm -rf --one-file-system "$work"' EXIT

# 1. Debian: a minimal base, systemd, nftables, udev (device nodes and the TPM's group).
packages=systemd,systemd-sysv,dbus,libsystemd0,udev,tpm-udev,nftables,kmod,iproute2,e2fsprogs,tpm2-tools
[ "$kernel" = 1 ] && packages=$packages,linux-image-amd64,initramfs-tools
say "debootstrap bookworm from $mirror (packages cached in $cache)"
debootstrap --variant=minbase --include="$packages" --cache-dir="$cache" bookworm "$tree" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { say "debootstrap failed:"; tail -20 "$work/debootstrap.log" >&2; exit 1; }

mount -t proc proc "$tree/proc"
mount --bind /dev "$tree/dev"
in_tree() { chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" DEBIAN_FRONTEND=noninteractive "$@"; }

# 2. The package (its postinst makes the users and enables sealbox.service).
cp "$deb" "$tree/tmp/sealbox.deb"
in_tree dpkg -i /tmp/sealbox.deb >"$work/dpkg.log" 2>&1 || { say "dpkg -i failed:"; tail -20 "$work/dpkg.log" >&2; exit 1; }
rm -f "$tree/tmp/sealbox.deb"

# 3. Appliance configuration.
files=$here/rootfs
cp -r "$files/." "$tree/"
if [ -n "$diode_host" ]; then
  cat >>"$tree/etc/sealbox/sealbox.toml" <<EOF

# Written by image/build-image.sh --diode $diode
[diode]
enabled = true
[diode.udp]
host = "$diode_host"
port = $diode_port
EOF
  mkdir -p "$tree/etc/systemd/system/sealbox.service.d"
  printf '# Written by image/build-image.sh: the one address the daemon may reach.\n[Service]\nIPAddressAllow=%s\n' "$diode_host" \
    >"$tree/etc/systemd/system/sealbox.service.d/diode.conf"
  diode_rule="ip daddr $diode_host udp dport $diode_port accept comment \"the diode\""
else
  diode_rule="# no diode configured: nothing leaves the box"
fi
sed -i "s|@DIODE_RULE@|$diode_rule|" "$tree/etc/nftables.conf"
if [ -n "$address" ]; then
  [[ "$address" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]] || { say "--address wants IPV4/PREFIX, got '$address'"; exit 64; }
  mkdir -p "$tree/etc/systemd/network"
  printf '# Written by image/build-image.sh: the diode link.\n[Match]\nName=en* eth*\n\n[Network]\nAddress=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' "$address" \
    >"$tree/etc/systemd/network/10-diode.network"
  in_tree systemctl enable systemd-networkd.service >/dev/null 2>&1
fi
in_tree systemd-sysusers /usr/lib/sysusers.d/sealbox-image.conf
in_tree systemctl enable nftables.service sealbox.service >/dev/null 2>&1
# One console, on tty1; no login prompts elsewhere (getty on other VTs, serial).
in_tree systemctl mask serial-getty@.service autovt@.service container-getty@.service console-getty.service >/dev/null 2>&1
# No update checks or downloads: the box never reaches an archive.
in_tree systemctl mask apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service >/dev/null 2>&1
# Every account locked: the console runs sealbox chat, never a shell.
in_tree usermod -L root
in_tree usermod -L sealbox-console
# Refuse to ship a remote-login service even if a dependency pulled one in.
for bad in sshd dropbear telnetd in.telnetd rshd rlogind in.rlogind vncserver xrdp; do
  if [ -n "$(find "$tree/usr" -name "$bad" -type f 2>/dev/null)" ]; then say "a remote-login server ($bad) is in the tree"; exit 1; fi
done

if [ "$kernel" = 1 ]; then
  echo squashfs >>"$tree/etc/initramfs-tools/modules"
  in_tree update-initramfs -u -k all >"$work/initramfs.log" 2>&1 || { say "update-initramfs failed:"; tail -20 "$work/initramfs.log" >&2; exit 1; }
  mkdir -p "$out"
  cp "$tree"/boot/vmlinuz-* "$out/vmlinuz"
  cp "$tree"/boot/initrd.img-* "$out/initrd.img"
fi

# 4. Remove what differs between builds or has no place on a sealed box.
cleanup
rm -rf "$tree"/var/cache/apt/* "$tree"/var/lib/apt/lists/* "$tree"/var/cache/debconf/*-old "$tree"/var/lib/dpkg/*-old \
  "$tree"/var/log/* "$tree"/tmp/* "$tree"/var/tmp/* "$tree"/var/lib/systemd/random-seed "$tree"/var/cache/ldconfig/aux-cache \
  "$tree"/etc/ssh "$tree"/root/.bash_history "$tree"/etc/*- "$tree"/var/lib/dbus/machine-id
# An empty machine-id: systemd makes one at each boot on a read-only root.
: >"$tree/etc/machine-id"
# Password ages ("days since 1970" of the build) → the epoch's day.
day=$((SOURCE_DATE_EPOCH / 86400))
awk -F: -v OFS=: -v d="$day" '{ if ($3 != "") $3 = d; print }' "$tree/etc/shadow" >"$tree/etc/shadow.new" && mv "$tree/etc/shadow.new" "$tree/etc/shadow"
chmod 0640 "$tree/etc/shadow"
chgrp shadow "$tree/etc/shadow" 2>/dev/null || chown 0:42 "$tree/etc/shadow"
echo sealbox >"$tree/etc/hostname"

# 5. Pack: sorted, every time SOURCE_DATE_EPOCH, no build host's xattrs.
mkdir -p "$out"
img=$out/sealbox-rootfs.squashfs
rm -f "$img"
say "mksquashfs → $img"
# mksquashfs takes SOURCE_DATE_EPOCH from the environment for the file system's and every file's time.
mksquashfs "$tree" "$img" -comp zstd -noappend -no-xattrs -reproducible -processors 2 -quiet -no-progress >/dev/null
sha256sum "$img" | cut -d' ' -f1 >"$img.sha256"
say "built $img ($(du -h "$img" | cut -f1), sha256 $(cat "$img.sha256"))"
echo "$img"
