# debian_mirror: the Debian archive to debootstrap from. SEALBOX_DEBIAN_MIRROR
# wins; otherwise the first archive in the host's own apt sources (deb822 or
# one-line format), so no mirror is hard-coded here.
debian_mirror() {
  if [ -n "${SEALBOX_DEBIAN_MIRROR:-}" ]; then echo "$SEALBOX_DEBIAN_MIRROR"; return; fi
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || { echo "no Debian mirror found in the apt sources; set SEALBOX_DEBIAN_MIRROR" >&2; return 1; }
  echo "$m"
}
