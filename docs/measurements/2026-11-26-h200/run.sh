#!/bin/bash
# One device check: record nvidia-smi, build llama.cpp (the source node-llama-cpp 3.21.1 bundles) for CUDA sm_90,
# and measure decode speed of sealbox's demo GGUF and of a 1.7 GB random-weight llama against memory bandwidth.
set -x
d=$(cd "$(dirname "$0")" && pwd)
nvidia-smi > $OUT/nvidia-smi.txt 2>&1
nvidia-smi --query-gpu=name,memory.total,clocks.max.mem,driver_version --format=csv > $OUT/gpu.csv 2>&1
mkdir -p /tmp/src && tar -xJf $d/llama-src.tar.xz -C /tmp/src
(python3 $d/make_random_llama.py /tmp/src/gguf-py /tmp/big.gguf 2048 16 5632 16 f16 > $OUT/gen.log 2>&1) &
gen=$!
cmake -S /tmp/src -B /tmp/b -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/cmake.log 2>&1 || { tail -30 $OUT/cmake.log; exit 1; }
start=$(date +%s)
cmake --build /tmp/b -j16 --target llama-bench > $OUT/build.log 2>&1 || { tail -40 $OUT/build.log; exit 1; }
echo "build_s=$(( $(date +%s) - start ))"
wait $gen; ls -la /tmp/big.gguf
/tmp/b/bin/llama-bench -m $d/demo.gguf -ngl 99 -p 64 -n 256 -r 3 -o json > $OUT/bench-demo-cuda.json 2>$OUT/bench-demo-cuda.err; tail -3 $OUT/bench-demo-cuda.err
/tmp/b/bin/llama-bench -m /tmp/big.gguf -ngl 99 -p 512 -n 128 -r 3 -o json > $OUT/bench-big-cuda.json 2>$OUT/bench-big-cuda.err; tail -3 $OUT/bench-big-cuda.err
/tmp/b/bin/llama-bench -m /tmp/big.gguf -ngl 99 -p 0 -n 128 -r 3 -o md 2>&1 | tail -5
nvidia-smi --query-gpu=temperature.gpu,power.draw,memory.used --format=csv >> $OUT/gpu.csv
ls -la /tmp/big.gguf > $OUT/big-size.txt
