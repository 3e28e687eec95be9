#!/usr/bin/env bash
# The GNN figures on a GPU, as one prepared run for a lent device machine (about 5 minutes on an H200).
# Its python3 holds torch and torch-geometric; MedMKG.csv must travel with the tree:
#   mkdir -p .gpu && cp ../shared/data/medmkg/MedMKG.csv .gpu/ && echo /.gpu/ >> .git/info/exclude
# medkg's imports need pydantic there (not in that image), as cp312 wheels in .gpu/whl:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 -d .gpu/whl pydantic pydantic-core annotated-types typing-inspection
#   device run: command "bash bench/gpu_gnn.sh", carry [".gpu"], timeout_s 600
# Prints: per model (R-GCN full batch and on sampled neighbourhoods, CompGCN, TransE) MedMKG's filtered/raw
# metrics with s/epoch, bf16 autocast, GPU peak memory; the generated 1M-edge graph's full-batch R-GCN step
# (target <= 2 s) and its neighbour mini-batch step, each with its peak memory. PyKEEN is not on that machine.
set -euo pipefail
export PYTHONUNBUFFERED=1
log="${OUT:-/tmp}/gnn_gpu.log"
if [ -d .gpu/whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$log"
python3 bench/gnn.py --medmkg "${1:-.gpu/MedMKG.csv}" --models rgcn,rgcn:neighbor,compgcn,transe --pykeen '' \
  --device cuda --big-edges 1000000 2>&1 | tee -a "$log"
