#!/usr/bin/env bash
# Image encoding on a GPU: the local engine against the Ray engine's GPU actor, one prepared run for a lent device
# (a few minutes on an H200). 2,000 generated studies (3,000 of the sample's JPGs), a ViT-B/16-sized open_clip model
# with random weights (nothing downloaded), batch 256, 16 CPUs decoding; prints the scale table (images/s of the
# image stage per engine, their ratio, identical output) and nvidia-smi.
#
# That machine's python3 has torch, torchvision, pyarrow, typer, rich and networkx; it lacks ray, open_clip_torch
# and pydantic, which travel as cp312 wheels in .gpu/whl (here, once):
#   echo /.gpu/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d .gpu/whl \
#     ray==2.60.0 open_clip_torch ftfy wcwidth pydantic pydantic-core annotated-types typing-inspection \
#     pydantic-settings python-dotenv msgpack universal_pathlib pathlib-abc
# ray's wheel alone is 79 MB and one call carries at most 64 MiB: split it in two (split -n 2 .gpu/whl/ray-*.whl
# .gpu/ray.part.; then take the wheel out of .gpu/whl) and send the halves in two back-to-back calls while the
# machine is warm: the first with only ray.part.aa in .gpu runs `mkdir -p /tmp/gpu && cp .gpu/ray.part.aa /tmp/gpu/`,
# the second (ray.part.ab and whl/ in .gpu) runs this script, which joins them.
#   device run: command "bash bench/gpu_scale.sh", carry [".gpu"], timeout_s 600
set -euo pipefail
export PYTHONUNBUFFERED=1
log="${OUT:-/tmp}/scale_gpu.log"
if [ -d .gpu/whl ]; then
  if [ -f .gpu/ray.part.ab ]; then
    cat /tmp/gpu/ray.part.aa .gpu/ray.part.ab > .gpu/whl/ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$log"
python3 bench/scale.py --studies 2000 --images --encoder open_clip:ViT-B-16@random --batch-size 256 \
  --workers 16 --engines local,ray --repeats 2 2>&1 | tee -a "$log"
