#!/usr/bin/env bash
# Runs sealbox's own CUDA path (node-llama-cpp 3.21.1's prebuilt CUDA build,
# through daemon/inference/engine.ts) on a lent GPU machine, from the device
# kit that tools/device-kit/pack.sh made and the run calls carried over in
# parts (build/device-kit/partK/). Tracked, so it travels with every call.
#
#   run-on-device.sh --status    check which parts are here (sha256) and probe
#                                the machine (GPU, CUDA libraries); unpacks nothing
#   run-on-device.sh             all parts here: verify, unpack into /tmp/sealbox-kit,
#                                run the CUDA checks, write the results under $OUT
#   run-on-device.sh --dry-run   the same steps in CPU mode (alias --cpu), no GPU:
#                                proves the kit on a machine without one
# Options: --parts DIR (default build/device-kit beside this repo), --kit DIR
# (default /tmp/sealbox-kit; a temp dir, removed after, in a dry run),
# --out DIR (default $OUT; a temp dir in a dry run), --budget-s N (default 480:
# every step is cut to what is left of it), --bench / --no-bench (default: on
# with CUDA, off in a dry run — it is a benchmark), --models A,B,... (default
# demo,big-q8,big-f32 with CUDA, demo,mid-q8 in a dry run; decode-check.ts names them).
#
# Exit status: 0 all steps passed; 2 a part is corrupt; 3 a part is missing;
# 4 a CUDA library is missing; 5 a step failed or timed out.
# Results under $OUT (at most 8 files come back): run.log (everything),
# nvidia-smi.txt, ldd.txt, load-check.json (load-check and addon-probe lines),
# decode.log, bench-inference.log, summary.json.
set -uo pipefail
ulimit -c 0  # a step that aborts (a CUDA error in llama.cpp does) leaves no core file

here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
repo=$(cd "$here/../.." && pwd)
parts=$repo/build/device-kit
action=run
mode=cuda
kit=
out=${OUT:-}
budget_s=480
bench=
models_list=
backend=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --status) action=status; shift ;;
    --dry-run|--cpu) mode=cpu; shift ;;
    --parts) parts=${2:?}; shift 2 ;;
    --kit) kit=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --budget-s) budget_s=${2:?}; shift 2 ;;
    --bench) bench=1; shift ;;
    --models) models_list=${2:?}; shift 2 ;;
    --backend) backend=${2:?}; shift 2
      case "$backend" in auto|prebuilt|built) ;; *) echo "run-on-device: --backend auto|prebuilt|built" >&2; exit 64 ;; esac ;;
    --no-bench) bench=0; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run-on-device: unknown argument $1" >&2; exit 64 ;;
  esac
done
[ -n "$bench" ] || { [ "$mode" = cuda ] && bench=1 || bench=0; }
start_s=$(date +%s)
deadline_s=$((start_s + budget_s))
if [ -z "$out" ]; then out=$(mktemp -d /tmp/sealbox-kit-out.XXXXXX); fi
mkdir -p "$out"
work=$(mktemp -d /tmp/sealbox-kit-work.XXXXXX)
# On the device the kit stays unpacked for a rerun on the warm machine; a dry run unpacks afresh into a temp dir.
if [ -z "$kit" ]; then [ "$mode" = cuda ] && kit=/tmp/sealbox-kit || kit=$work/kit; fi
exec > >(tee -a "$out/run.log") 2>&1
tee_pid=$!
# Let tee write the last lines before the call returns.
trap 'rm -rf "$work"; exec >&- 2>&-; wait "$tee_pid" 2>/dev/null' EXIT
echo "run-on-device: $action, mode $mode, parts $parts, kit $kit, results $out, budget ${budget_s} s, $(date -u +%FT%TZ)"

# --- the parts ---------------------------------------------------------------
manifest=
for m in "$parts/manifest.sha256" "$parts"/part*/manifest.sha256; do
  [ -f "$m" ] || continue
  if [ -z "$manifest" ]; then manifest=$m
  elif ! cmp -s "$manifest" "$m"; then
    echo "CORRUPT: $m differs from $manifest: parts of two different packs are here (pack once, carry every part of that pack)"; exit 2
  fi
done
if [ -z "$manifest" ]; then
  echo "MISSING: no part of the kit is here (no manifest.sha256 under $parts): carry build/device-kit/part1 … in the run calls (tools/device-kit/README.md)"
  [ "$action" = status ] || exit 3
fi
nparts=0; missing=(); corrupt=()
if [ -n "$manifest" ]; then
  nparts=$(sed -n 's/^# parts //p' "$manifest")
  sed -n 's/^# \(sealbox.*\|packed.*\)/kit: \1/p' "$manifest"
  for k in $(seq 1 "$nparts"); do
    rel=part$k/kit.tar.xz.part$k
    want=$(awk -v f="$rel" '$2 == f { print $1 }' "$manifest")
    if [ ! -f "$parts/$rel" ]; then
      missing+=("part$k"); echo "part$k: MISSING — carry build/device-kit/part$k in a run call"
    elif [ "$(sha256sum < "$parts/$rel" | cut -c1-64)" != "$want" ]; then
      corrupt+=("part$k"); echo "part$k: CORRUPT — its sha256 is not the manifest's $want (carry it again)"
    else
      echo "part$k: ok ($(stat -c %s "$parts/$rel") bytes, sha256 ${want:0:16}…)"
    fi
  done
fi

# --- the machine ---------------------------------------------------------------
# find_lib NAME: where the dynamic linker (or we) can find a library: ldconfig's
# cache, the usual CUDA and driver folders, then a bounded search (pip's CUDA 13
# wheels keep theirs in site-packages/nvidia/cu13/lib).
find_lib() {
  local name=$1 d f dirs=()
  f=$(ldconfig -p 2>/dev/null | awk -v n="$name" '$1 == n && /x86-64/ { print $NF; exit }')
  if [ -n "$f" ] && [ -e "$f" ]; then echo "$f"; return 0; fi
  IFS=: read -ra dirs <<< "${LD_LIBRARY_PATH:-}"
  dirs+=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib
    /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /lib/x86_64-linux-gnu)
  for d in "${dirs[@]}"; do
    [ -n "$d" ] && [ -e "$d/$name" ] && { echo "$d/$name"; return 0; }
  done
  f=$(timeout 30 find /usr/local /opt /usr/lib /root -maxdepth 10 -name "$name" \( -type f -o -type l \) -print -quit 2>/dev/null)
  [ -n "$f" ] && { echo "$f"; return 0; }
  return 1
}

echo "--- machine"
uname -a
sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null
echo "glibc $(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}') (the prebuilt binaries need 2.34 or later); $(nproc) CPUs; $(awk '/MemTotal/ {printf "%.0f GiB memory", $2 / 1048576}' /proc/meminfo)"
df -h /tmp | tail -1 | awk '{print "/tmp: " $4 " free"}'
stdcxx=$(find_lib libstdc++.so.6 || true)
if [ -n "$stdcxx" ] && grep -qa GLIBCXX_3.4.30 "$stdcxx"; then echo "libstdc++: $stdcxx has GLIBCXX_3.4.30 (needed)"
else echo "libstdc++: ${stdcxx:-not found} LACKS GLIBCXX_3.4.30: the prebuilt llama.cpp will not load"; fi
if command -v nvidia-smi >/dev/null; then timeout 20 nvidia-smi -L; else echo "nvidia-smi: not on PATH"; fi

ldpath=
libs_missing=()
if [ "$mode" = cuda ]; then
  # libggml-cuda.so links libcudart.so.13 and libcublas.so.13 (which needs libcublasLt.so.13)
  # without shipping them, and libcuda.so.1 from the driver.
  for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13; do
    if f=$(find_lib "$lib"); then
      echo "$lib: $f"
      d=$(dirname "$f")
      case ":$ldpath:" in *":$d:"*) ;; *) ldpath=${ldpath:+$ldpath:}$d ;; esac
    else
      libs_missing+=("$lib")
      echo "$lib: NOT FOUND (searched ldconfig -p, \$LD_LIBRARY_PATH, /usr/local/cuda*/lib64 and targets/, /usr/local/nvidia/lib*, /usr/lib*, and find under /usr/local /opt /usr/lib /root)"
    fi
  done
  IFS=: read -ra inherited <<< "${LD_LIBRARY_PATH:-}"
  for d in "${inherited[@]}"; do
    [ -n "$d" ] && case ":$ldpath:" in *":$d:"*) ;; *) ldpath=${ldpath:+$ldpath:}$d ;; esac
  done
fi

# --- which CUDA backend can run here ------------------------------------------------
# The prebuilt libggml-cuda.so has machine code for some GPU architectures and PTX for
# others (pack.sh records which, and the nvcc release that wrote it, in the manifest). A
# GPU without machine code of its own (Hopper, sm_90) runs the PTX only if the driver's
# JIT knows that nvcc's PTX ISA; otherwise the module is built here from the bundled
# llama.cpp source (build-ggml-cuda.sh), in the background from the first call on.
mf() { [ -n "$manifest" ] && sed -n "s/^# $1 //p" "$manifest" | head -1; }
need_build=0
gpu_arch=
build_dir=/tmp/sealbox-ggml-cuda
ggml_src=$parts/part1/ggml-src.tar.xz
if [ "$mode" = cuda ] && command -v nvidia-smi >/dev/null; then
  gpu_arch=$(timeout 20 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  driver_cuda=$(timeout 20 nvidia-smi 2>/dev/null | grep -oE 'CUDA Version: *[0-9.]+' | head -1 | grep -oE '[0-9.]+$')
  sass=$(mf cuda-sass); nvcc_rel=$(mf cuda-nvcc)
  echo "GPU architecture sm_${gpu_arch:-?}; the driver supports CUDA ${driver_cuda:-?}; the prebuilt has machine code for sm_${sass// /, sm_} and PTX (ISA $(mf cuda-ptx-isa)) written by nvcc ${nvcc_rel:-?}"
  if [ -n "$gpu_arch" ] && [[ " $sass " == *" $gpu_arch "* ]]; then
    echo "CUDA backend: the prebuilt (it has machine code for this GPU)"
  elif [ -n "$driver_cuda" ] && [ -n "$nvcc_rel" ] && [ "$(printf '%s\n%s\n' "$nvcc_rel" "$driver_cuda" | sort -V | head -1)" = "$nvcc_rel" ]; then
    echo "CUDA backend: the prebuilt (the driver can JIT its PTX; the first answers pay the compile)"
  else
    need_build=1
    echo "CUDA backend: the driver (CUDA ${driver_cuda:-?}) cannot JIT PTX from nvcc ${nvcc_rel:-?} and there is no sm_$gpu_arch machine code:"
    echo "  the prebuilt is tried once (expected to fail), then libggml-cuda.so is built here from llama.cpp $(mf ggml-src | awk '{print $2}' | cut -c1-12) with this machine's nvcc"
  fi
fi
[ "$backend" = auto ] || { [ "$backend" = built ] && need_build=1 || need_build=0; echo "CUDA backend: $backend (asked for)"; }
if [ "$need_build" = 1 ]; then
  st=$(cat "$build_dir/status" 2>/dev/null)
  if [ "$st" = done ] || [ "$st" = building ] || [[ "$st" == failed* ]]; then
    # A failed build is not retried by itself (it would fail the same way): rm -r $build_dir to retry.
    echo "ggml-cuda build: $st ($build_dir/build.log)"
  elif [ ! -f "$ggml_src" ] || [ "$(sha256sum < "$ggml_src" | cut -c1-64)" != "$(awk '$2 == "part1/ggml-src.tar.xz" { print $1 }' "$manifest")" ]; then
    echo "ggml-cuda build: cannot start yet (part1/ggml-src.tar.xz is missing or corrupt: it comes with part1)"
  else
    mkdir -p "$build_dir"
    echo building > "$build_dir/status"
    # Its own session, so that it outlives this call (the machine keeps it until it goes back).
    setsid nohup bash "$here/build-ggml-cuda.sh" "$ggml_src" "$build_dir" "${gpu_arch:-90}" < /dev/null > /dev/null 2>&1 &
    echo "ggml-cuda build: started in the background for sm_${gpu_arch:-90} (about 3 minutes on 16 cores; $build_dir/build.log)"
  fi
fi

if [ "$action" = status ]; then
  echo "--- status: $((nparts - ${#missing[@]} - ${#corrupt[@]})) of $nparts parts here and intact${missing[*]:+; missing: ${missing[*]}}${corrupt[*]:+; corrupt: ${corrupt[*]}}"
  [ ${#libs_missing[@]} -eq 0 ] || echo "WARNING: ${libs_missing[*]} not found: the CUDA checks will not be able to run"
  [ ${#corrupt[@]} -eq 0 ] || exit 2
  exit 0
fi
[ ${#corrupt[@]} -eq 0 ] || { echo "stopping: corrupt part(s) ${corrupt[*]}"; exit 2; }
[ ${#missing[@]} -eq 0 ] || { echo "stopping: missing part(s) ${missing[*]}"; exit 3; }

# --- unpack -----------------------------------------------------------------------
total_want=$(awk '$2 == "kit.tar.xz" { print $1 }' "$manifest")
stream() { for k in $(seq 1 "$nparts"); do cat "$parts/part$k/kit.tar.xz.part$k"; done; }
if [ -f "$kit/.kit-sha256" ] && [ "$(cat "$kit/.kit-sha256")" = "$total_want" ]; then
  echo "--- kit already unpacked in $kit (same pack)"
else
  [ "$(stream | sha256sum | cut -c1-64)" = "$total_want" ] || { echo "CORRUPT: the joined parts do not hash to the manifest's kit.tar.xz"; exit 2; }
  t0=$(date +%s)
  rm -rf "$kit" && mkdir -p "$kit" || exit 1
  stream | xz -dc | tar -x --no-same-owner -C "$kit" --strip-components=1 || { echo "unpacking failed"; exit 2; }
  echo "$total_want" > "$kit/.kit-sha256"
  echo "--- unpacked into $kit in $(( $(date +%s) - t0 )) s: $(du -sh "$kit" | cut -f1)"
fi
node=$kit/node/bin/node
app=$kit/app
cudabins=$app/node_modules/@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda
cpubins=$app/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
mkdir -p "$kit/home"

# Node runs from / with a cleared environment: the kit's node first and alone on
# PATH, no NODE_PATH/NODE_OPTIONS, HOME inside the kit; only the library path
# and the CUDA JIT cache are set. The prebuilt CUDA build carries PTX, not
# machine code, for sm_90 (H100/H200), so the driver compiles its kernels on
# first use; the cache keeps them for later processes (first answers say the cost).
node_env=(env -i "HOME=$kit/home" "PATH=$kit/node/bin" LANG=C.UTF-8 TMPDIR=/tmp
  "CUDA_CACHE_PATH=/tmp/sealbox-cuda-cache" CUDA_CACHE_MAXSIZE=4294967296)
[ -n "$ldpath" ] && node_env+=("LD_LIBRARY_PATH=$ldpath")
for v in CUDA_VISIBLE_DEVICES NVIDIA_VISIBLE_DEVICES NVIDIA_DRIVER_CAPABILITIES; do
  [ -n "${!v:-}" ] && node_env+=("$v=${!v}")
done
# In a dry run, every node step is traced (when strace is here) to show that it opens nothing outside the kit.
tracer=()
self_contained=
if [ "$mode" = cpu ] && command -v strace >/dev/null; then tracer=(strace -f -qq -e trace=openat,execve -o); fi
cd / || exit 1

steps=$work/steps.tsv
# step NAME MAX_S COMMAND...: runs it under a timeout cut to what is left of the
# budget; its own lines go to stderr (the log), the command's stdout where the caller sends it.
step() {
  local name=$1 max=$2; shift 2
  local left=$((deadline_s - $(date +%s) - 5))
  if [ "$left" -lt 10 ]; then
    echo "=== $name: SKIPPED, the budget of ${budget_s} s is spent" >&2; printf '%s\tskipped\t0\n' "$name" >> "$steps"; return 1
  fi
  local t=$(( max < left ? max : left )) t0 rc
  t0=$(date +%s%N)
  echo "=== $name (at most $t s)" >&2
  if [ ${#tracer[@]} -gt 0 ] && [ "$1" = env ]; then
    timeout -k 10 "$t" "${tracer[@]}" "$work/$name.trace" "$@"; rc=$?
  else
    timeout -k 10 "$t" "$@"; rc=$?
  fi
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "=== $name: $([ "$rc" -eq 0 ] && echo ok || { [ "$rc" -eq 124 ] && echo "TIMED OUT after $t s" || echo "FAILED, exit $rc"; }) in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s" >&2
  printf '%s\t%s\t%s\n' "$name" "$rc" "$ms" >> "$steps"
  return "$rc"
}
: > "$steps"

# nvidia-smi, as it answered (also what test/fixtures/nvidia-smi replays).
{
  if command -v nvidia-smi >/dev/null; then
    echo "## nvidia-smi"; timeout 30 nvidia-smi
    echo "## nvidia-smi --query-gpu (before)"
    timeout 30 nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.memory,driver_version,pcie.link.gen.max,power.limit,temperature.gpu --format=csv
    echo "## nvidia-smi -q"; timeout 30 nvidia-smi -q
  else
    echo "nvidia-smi: not on PATH ($mode mode)"
  fi
} > "$out/nvidia-smi.txt" 2>&1

# What the dynamic linker resolves for the binaries that will load.
{
  echo "LD_LIBRARY_PATH=$ldpath"
  for f in "$cudabins/llama-addon.node" "$cudabins/libggml-cuda.so" "$cpubins/llama-addon.node" "$node"; do
    echo "## $f"; env -i ${ldpath:+LD_LIBRARY_PATH=$ldpath} ldd "$f" 2>&1
  done
} > "$out/ldd.txt"
echo "--- ldd: $(grep 'not found' "$out/ldd.txt" | sort -u | wc -l) libraries unresolved (none may be with CUDA; in a CPU dry run the CUDA build's libcuda/libcudart/libcublas may be); details in ldd.txt"
grep 'not found' "$out/ldd.txt" | sort -u | sed 's/^/    /'

if [ "$mode" = cuda ] && [ ${#libs_missing[@]} -gt 0 ]; then
  echo "stopping: ${libs_missing[*]} not found on this machine; nvidia-smi.txt and ldd.txt are recorded"
  exit 4
fi

if [ -z "$models_list" ]; then [ "$mode" = cuda ] && models_list=demo,big-q8,big-f32 || models_list=demo,mid-q8; fi
IFS=, read -ra run_models <<< "$models_list"
dc_args=()
[ "$mode" = cpu ] && dc_args=(--threads 1)
# On the device the generated models outlive the run (a rerun on the warm machine reuses them).
[ "$mode" = cuda ] && models=/tmp/sealbox-models || models=$work/models
mkdir -p "$models"
dc=$app/tools/device-kit/decode-check.js

# Models are generated here (not carried); all but the first in the background while the first checks run.
gen_pids=()
for m in "${run_models[@]:1}"; do
  timeout -k 10 300 "${node_env[@]}" "$node" "$dc" --mode "$mode" --dir "$models" --models "$m" --make-only > "$work/gen-$m.log" 2>&1 &
  gen_pids+=($!)
done

step load-check 90 "${node_env[@]}" "$node" "$app/tools/device-kit/load-check.js" > "$out/load-check.json"
cat "$out/load-check.json"
probe() { step "addon-probe$1" 60 "${node_env[@]}" "$node" "$app/tools/device-kit/addon-probe.js" "$mode" >> "$out/load-check.json"; tail -1 "$out/load-check.json"; }
probe ""
# The CUDA kernel self-test's child (daemon/inference/cuda-probe-child.ts): with CUDA the engine runs
# it at every open (decode-check below); a dry run runs it here on the CPU, to show the kit carries it.
if [ "$mode" = cpu ]; then step kernel-self-test 60 "${node_env[@]}" "$node" "$app/daemon/inference/cuda-probe-child.js" --mode cpu; fi

: > "$out/decode.log"
# --- the CUDA backend that runs -----------------------------------------------------------
cuda_backend=
if [ "$mode" = cuda ]; then cuda_backend="prebuilt (node-llama-cpp 3.21.1, nvcc $(mf cuda-nvcc))"; fi
if [ "$mode" = cuda ] && [ "$need_build" = 1 ]; then
  if [ "$(cat "$kit/.cuda-backend" 2>/dev/null)" = built ]; then
    echo "--- the CUDA backend built here is in place already (an earlier run on this machine)"
    cuda_backend="built here: $(grep '^built ' "$build_dir/build.log" 2>/dev/null)"
  else
    prc=1
    if [ "$backend" = auto ]; then
      # The product's own path first: how the prebuilt fails here is a finding too (or it runs after all).
      step decode-demo-prebuilt 90 "${node_env[@]}" "$node" "$app/tools/device-kit/decode-check.js" --mode cuda --dir "$models" --models demo --tokens 32 --rounds 1 2>&1 | tee -a "$out/decode.log"
      prc=$(awk -F'\t' '$1 == "decode-demo-prebuilt" { print $2 }' "$steps" | tail -1)
    fi
    if [ "$prc" = 0 ]; then
      echo "--- the prebuilt CUDA backend ran after all: it stays"
    else
      echo "--- waiting for the ggml-cuda build ($build_dir/build.log)"
      w0=$(date +%s); n=0
      while [ "$(cat "$build_dir/status" 2>/dev/null)" = building ] && [ $((deadline_s - $(date +%s))) -gt 90 ]; do
        sleep 5; n=$((n + 1))
        [ $((n % 6)) -eq 0 ] && echo "    $(tail -c 400 "$build_dir/build.log" | tr '\r' '\n' | grep -v '^$' | tail -1 | cut -c1-100)"
      done
      st=$(cat "$build_dir/status" 2>/dev/null)
      printf '%s\t%s\t%s\n' ggml-cuda-build "$([ "$st" = done ] && echo 0 || echo 1)" "$(( ($(date +%s) - w0) * 1000 ))" >> "$steps"
      if [ "$st" = done ]; then
        mv "$cudabins/libggml-cuda.so" "$kit/libggml-cuda.so.prebuilt" && cp "$build_dir/libggml-cuda.so" "$cudabins/libggml-cuda.so" && echo built > "$kit/.cuda-backend"
        cuda_backend="built here: $(grep '^built ' "$build_dir/build.log")"
        echo "--- CUDA backend now: $cuda_backend (waited $(( $(date +%s) - w0 )) s)"
        { echo "## $cudabins/libggml-cuda.so (built here)"; env -i ${ldpath:+LD_LIBRARY_PATH=$ldpath} ldd "$cudabins/libggml-cuda.so" 2>&1; } >> "$out/ldd.txt"
        probe -built
      else
        echo "--- the ggml-cuda build did not finish: ${st:-never started}; the end of its log:"
        tail -25 "$build_dir/build.log" 2>/dev/null | sed 's/^/    /'
        cuda_backend="none: the prebuilt cannot run here and the build ${st:-never started}"
        run_models=()
      fi
    fi
  fi
fi
[ -z "$cuda_backend" ] || echo "cuda backend: $cuda_backend" | tee -a "$out/decode.log"

decode() {
  step "decode-$1" "$2" "${node_env[@]}" "$node" "$dc" --mode "$mode" --dir "$models" --models "$1" --tokens 256 --rounds 3 "${dc_args[@]}" 2>&1 | tee -a "$out/decode.log"
}
run_bench() {
  if [ "$bench" = 1 ]; then
    step bench-inference 200 "${node_env[@]}" "$node" "$app/bench/inference.js" --mode "$mode" --quick 2>&1 | tee "$out/bench-inference.log"
  else
    echo "=== bench-inference: not run (--no-bench; off by default in a dry run, where it is a CPU benchmark: --bench runs it; load-check.json shows its modules load)"
  fi
}
# Order: the first model (it pays the CUDA kernels' JIT compile, so it gets the most time), the
# second, bench/inference.js, then the rest — what matters most first, if the budget runs out.
for i in "${!run_models[@]}"; do
  m=${run_models[$i]}
  if [ "$i" -eq 1 ]; then
    echo "--- waiting for the generated models"
    for p in "${gen_pids[@]}"; do wait "$p" || echo "model generation (pid $p) failed or timed out"; done
    for g in "${run_models[@]:1}"; do sed 's/^/    /' "$work/gen-$g.log"; done
  fi
  decode "$m" "$([ "$i" -eq 0 ] && echo 200 || echo 150)"
  if [ "$i" -eq 1 ] || [ "${#run_models[@]}" -eq 1 ]; then run_bench; fi
done

if command -v nvidia-smi >/dev/null; then
  { echo "## nvidia-smi --query-gpu (after)"; timeout 30 nvidia-smi --query-gpu=name,temperature.gpu,power.draw,memory.used,clocks.sm,clocks.mem --format=csv; } >> "$out/nvidia-smi.txt" 2>&1
fi

if [ ${#tracer[@]} -gt 0 ]; then
  outside=$(cat "$work"/*.trace 2>/dev/null | grep -v ENOENT | grep -F "\"$repo/" | grep -oE '"[^"]*"' | sort -u)
  execs=$(cat "$work"/*.trace 2>/dev/null | grep 'execve(' | grep -v ENOENT | grep -oE 'execve\("[^"]*"' | sort | uniq -c)
  echo "--- strace of the node steps: $(cat "$work"/*.trace | grep -c 'openat(') opens; files opened under the repo ($repo): $(printf '%s' "$outside" | grep -c .)"
  [ -z "$outside" ] || printf '%s\n' "$outside" | head -20 | sed 's/^/    /'
  echo "--- programs started:"; printf '%s\n' "$execs" | sed 's/^/    /'
  if [ -n "$outside" ]; then echo "FAILED: the kit is not self-contained"; self_contained=false; else self_contained=true; fi
fi

# summary.json: the figures of every step in one file.
"${node_env[@]}" "$node" --input-type=module -e '
  import { readFileSync } from "node:fs";
  const [outDir, stepsFile, manifest, mode, ldpath, gpuLine, selfContained, cudaBackend] = process.argv.slice(1);
  const read = (f) => { try { return readFileSync(f, "utf8"); } catch { return ""; } };
  const lastJson = (text, key) => text.split("\n").filter((l) => l.startsWith("{") && (!key || l.includes(key))).map((l) => { try { return JSON.parse(l); } catch { return undefined; } }).filter(Boolean);
  const steps = read(stepsFile).trim().split("\n").filter(Boolean).map((l) => { const [name, rc, ms] = l.split("\t"); return { name, rc: rc === "skipped" ? rc : Number(rc), seconds: Number(ms) / 1000 }; });
  const summary = {
    mode,
    kit: (read(manifest).match(/^# fingerprint (\w+)/m) ?? [])[1],
    gpu: gpuLine || null,
    cuda_backend: cudaBackend || null,
    self_contained: selfContained === "" ? null : selfContained === "true",
    ld_library_path: ldpath,
    steps,
    load_check: lastJson(read(outDir + "/load-check.json"))[0] ?? null,
    addon_probe: lastJson(read(outDir + "/load-check.json")).slice(1),
    decode: lastJson(read(outDir + "/decode.log"), "\"decode\"").flatMap((j) => j.decode),
    bench_inference: lastJson(read(outDir + "/bench-inference.log")).at(-1) ?? null,
  };
  process.stdout.write(JSON.stringify(summary, null, 1) + "\n");
'  "$out" "$steps" "$manifest" "$mode" "$ldpath" \
  "$(awk '/^## nvidia-smi --query-gpu \(before\)/ { getline; getline; print; exit }' "$out/nvidia-smi.txt")" "$self_contained" "$cuda_backend" > "$out/summary.json" || echo "summary.json could not be written"

echo "--- summary ($(( $(date +%s) - start_s )) s in all)"
while IFS=$'\t' read -r name rc ms; do printf '    %-18s %s\n' "$name" "$([ "$rc" = 0 ] && echo "ok, $((ms / 1000)) s" || echo "rc=$rc")"; done < "$steps"
grep -h '^\[' "$out/decode.log" | sed 's/^/    /'
# Failed: a step that did not exit 0 (or was skipped), or a dry run that opened files outside the kit.
status=0
# (the prebuilt's attempt where it cannot run is a finding, not a failure)
if awk -F'\t' '$2 != "0" && $1 !~ /-prebuilt$/ { bad = 1 } END { exit !bad }' "$steps" || [ "$self_contained" = false ]; then status=5; fi
echo "results in $out: $(cd "$out" && ls | tr '\n' ' ')"
exit "$status"
