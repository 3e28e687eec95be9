"""Image encoding throughput and peak memory: the pixels encoder, a tiny open_clip model, and a
ViT-B/16-sized open_clip model with random weights; on CPU, and on the GPU when there is one.

    python bench/images.py [--images 256] [--batch-size 32] [--repeats 3] [--device cpu|cuda]

Images are the two NIH ChestX-ray14 PNGs in ../shared/data (decoded once) repeated; throughput
counts preprocessing + encoding (decoding is measured separately).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_rss_mb, timed  # noqa: E402
from embed.images import load_image  # noqa: E402

TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1}}


def tiny_folder() -> str:
    import open_clip
    import torch
    from safetensors.torch import save_file

    d = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    m = open_clip.CLIP(embed_dim=TINY["embed_dim"], vision_cfg=TINY["vision_cfg"], text_cfg=TINY["text_cfg"])
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(d / "open_clip_model.safetensors"))
    (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY}))
    return str(d)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "cxr14-images"
    paths = sorted(shared.glob("*.png"))
    t = time.perf_counter()
    base = [load_image(p) for p in paths]
    decode = (time.perf_counter() - t) / len(paths)
    ims = (base * (args.images // len(base) + 1))[: args.images]
    print(f"machine: {machine()}")
    print(f"input: {args.images} images ({base[0].size[0]}x{base[0].size[1]} 8-bit), batch {args.batch_size}; "
          f"decode {decode * 1e3:.0f} ms/image")
    from embed.encoders import PixelsEncoder
    from embed.openclip import OpenClipEncoder

    encoders = [("pixels:32", lambda: PixelsEncoder(32))]
    try:
        import torch

        dev = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        folder = tiny_folder()
        encoders.append(("open_clip tiny (random)", lambda: OpenClipEncoder(f"local-dir:{folder}", None, device=dev)))
        encoders.append(("open_clip ViT-B-16 (random)", lambda: OpenClipEncoder("ViT-B-16", None, device=dev,
                                                                                label="ViT-B-16@random")))
        precision = "fp16 autocast" if dev == "cuda" else "fp32"
        print(f"torch {torch.__version__}, device {dev}, precision {precision}")
    except ImportError:
        print("torch/open_clip not installed: only the pixels encoder")
    for name, make in encoders:
        enc = make()

        def run(enc=enc):
            for b in range(0, len(ims), args.batch_size):
                enc.encode(ims[b : b + args.batch_size])
            if getattr(enc, "device", "cpu").startswith("cuda"):
                torch.cuda.synchronize()

        run()  # warm-up
        med, all_ = timed(run, args.repeats)
        extra = ""
        if getattr(enc, "device", "cpu").startswith("cuda"):
            extra = f", GPU peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
        print(f"{name}: dim {enc.dim}, median {len(ims) / med:,.1f} images/s "
              f"(runs {', '.join(f'{t:.2f}' for t in all_)} s), peak RSS so far {peak_rss_mb():.0f} MB{extra}")


if __name__ == "__main__":
    main()
