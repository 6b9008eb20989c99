#!/usr/bin/env bash
# Every figure the GPU-node issue asks for, as one command on a GPU node (README, "GPU nodes"):
#   benchmarks/gpu_node.sh                   # CUDA: the six paper profiles in fp32 with the
#                                            # profiler's tables, again in bf16, and one
#                                            # pseudo-label round at CUHK-SYSU's and MSMT17's
#                                            # sizes on the exact (CPU) and torch (GPU) routes
#   CLUSTER_CASES=smoke benchmarks/gpu_node.sh --device cpu --tiny   # a rehearsal on a CPU
# Arguments go to both bench_gpu.py runs. Results: benchmarks/results/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
cases=${CLUSTER_CASES:-cuhk-256 msmt-256}
mkdir -p "$out"
python benchmarks/bench_gpu.py --device cuda --torch-profile --out "$out/bench_gpu.json" "$@"
python benchmarks/bench_gpu.py --device cuda --precision bf16 --out "$out/bench_gpu_bf16.json" "$@"
rm -f "$out/bench_clustering_gpu.json"
# shellcheck disable=SC2086  # the cases are words
python benchmarks/bench_clustering.py --case $cases --route exact torch \
    --json "$out/bench_clustering_gpu.json"
python benchmarks/bench_clustering.py --json "$out/bench_clustering_gpu.json" --table
echo "gpu_node: results in $out/"
