#!/usr/bin/env bash
# Builds llama.cpp's CUDA backend — the loadable module libggml-cuda.so that
# node-llama-cpp's prebuilt loads from its bins folder — from the ggml/ source
# of the exact llama.cpp commit node-llama-cpp 3.21.1 bundles, with this
# machine's nvcc, for this GPU's architecture only. For a device whose driver
# cannot JIT-compile the prebuilt library's PTX (written by a newer nvcc than
# the driver knows): everything else node-llama-cpp loads stays the prebuilt.
#
#   build-ggml-cuda.sh SRC_TAR_XZ OUT_DIR [ARCH]     (ARCH default 90: H100, H200)
#
# Writes OUT_DIR/build.log and OUT_DIR/status ("building", then "done" with
# OUT_DIR/libggml-cuda.so, or "failed: why"). run-on-device.sh starts it in the
# background on the first call, so it builds while the other parts travel.
# The build options are node-llama-cpp's own for its prebuilt binaries
# (dist/bindings/utils/compileLLamaCpp.js: GGML_BACKEND_DL, no OpenMP, no
# native CPU flags, unversioned sonames), so the module plugs into the
# prebuilt libggml-base.so of the same commit.
set -uo pipefail
src=${1:?usage: build-ggml-cuda.sh SRC_TAR_XZ OUT_DIR [ARCH]}
out=${2:?usage: build-ggml-cuda.sh SRC_TAR_XZ OUT_DIR [ARCH]}
arch=${3:-90}
mkdir -p "$out"
exec > "$out/build.log" 2>&1
echo building > "$out/status"
fail() { echo "failed: $*" > "$out/status"; echo "FAILED: $*"; exit 1; }
t0=$(date +%s)

nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc 2>/dev/null | sort -V | tail -1)
[ -n "$nvcc" ] && [ -x "$nvcc" ] || fail "nvcc not found (PATH, /usr/local/cuda*/bin)"
command -v cmake >/dev/null || fail "cmake not found"
"$nvcc" --version | tail -2
rm -rf "$out/src" "$out/b" && mkdir -p "$out/src" || fail "cannot write $out"
tar -xJf "$src" -C "$out/src" || fail "cannot unpack $src"
cat > "$out/src/CMakeLists.txt" <<'EOF'
# ggml as a subproject (as llama.cpp includes it): no standalone tests, examples or pkg-config.
cmake_minimum_required(VERSION 3.19)
project(sealbox-ggml-cuda C CXX)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
set(CMAKE_PLATFORM_NO_VERSIONED_SONAME ON)
set(CMAKE_SKIP_BUILD_RPATH FALSE)
set(CMAKE_BUILD_RPATH_USE_ORIGIN ON)
set(CMAKE_BUILD_RPATH "$ORIGIN")
add_compile_options(-fexceptions)
add_subdirectory(ggml)
EOF
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$out/src" -B "$out/b" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGGML_CUDA=ON -DGGML_BACKEND_DL=ON -DBUILD_SHARED_LIBS=ON \
  -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF -DGGML_BUILD_NUMBER=1 || fail "cmake configure (see build.log)"
cmake --build "$out/b" --target ggml-cuda -j "$(nproc)" || fail "compile (see build.log)"
lib=$(find "$out/b" -name 'libggml-cuda.so' -type f | head -1)
[ -n "$lib" ] || fail "no libggml-cuda.so was built"
# It must need the prebuilt's libggml-base.so by that exact name, or a second ggml-base would load.
readelf -d "$lib" | grep -q 'NEEDED.*\[libggml-base\.so\]' || fail "libggml-cuda.so does not need libggml-base.so by name: $(readelf -d "$lib" | grep NEEDED | tr -s ' ')"
cp "$lib" "$out/libggml-cuda.so" || fail "cannot copy $lib"
echo "built $(stat -c %s "$out/libggml-cuda.so") bytes, sha256 $(sha256sum "$out/libggml-cuda.so" | cut -c1-64), for sm_$arch with $("$nvcc" --version | grep -o 'release [0-9.]*'), in $(( $(date +%s) - t0 )) s"
echo done > "$out/status"
