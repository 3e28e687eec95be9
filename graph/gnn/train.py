"""Training: negative sampling, early stopping on validation MRR, seeds, checkpoints and resume, CPU or CUDA.

Full batch: each step encodes the whole training graph (R-GCN) and scores ``batch_size`` positive triples against
every entity as tail and head (PyG's KGE models draw their own corrupted triples). Neighbour mini-batches (R-GCN,
``batch_mode="neighbor"``, or ``"auto"`` when a full-batch step would not fit in memory): each step samples the
seed triples' neighbourhoods with PyG's ``LinkNeighborLoader`` (``neighbors`` incoming edges per node and layer)
and scores the triples against the subgraph's nodes; evaluation still encodes the whole graph, without gradients.
On CUDA the forward pass runs under bfloat16 autocast unless ``precision="fp32"``. A checkpoint (``checkpoint.pt``) is written after every
evaluation and the best weights (``model.pt``) whenever validation MRR improves, each to a temporary file first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from graph.gnn.data import KGData
from graph.gnn.evaluate import known_index, metrics
from graph.gnn.models import LinkModel, ModelConfig, build_model, encodes_graph
from graph.gnn.split import Split
from kg.core.devices import pick_device
from kg.core.errors import InvalidInput

FORMAT = 1  # checkpoint layout


@dataclass
class TrainConfig:
    epochs: int = 200
    lr: float = 0.01
    batch_size: int | None = None  # positive triples per step (default: 32768 for R-GCN, 1024 for KGE models)
    eval_every: int = 5
    patience: int = 5  # evaluations without a gain of min_gain in validation MRR before stopping
    min_gain: float = 0.01  # the relative gain in validation MRR that counts as progress (PyKEEN's relative_delta)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
    max_eval: int = 5000  # validation triples ranked per evaluation (a seeded sample beyond this)
    batch_mode: str = "auto"  # R-GCN: auto (full batch when it fits in memory) | full | neighbor
    neighbors: int = 10  # neighbour mini-batches: incoming edges sampled per node and layer (-1: all)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: LinkModel
    best_epoch: int
    epochs_run: int
    valid_mrr: float
    device: str
    precision: str
    epoch_seconds: float  # median
    batch_mode: str = "full"  # full | neighbor (R-GCN); triples (the KGE models encode no graph)
    history: list[dict] = field(default_factory=list)


def choose_batch_mode(num_entities: int, mp_edges: int, mcfg: ModelConfig, tcfg: TrainConfig,
                      device: torch.device) -> dict:
    """``{"mode": "full"|"neighbor"|"triples", "needBytes", "budgetBytes", "why"}``: how an R-GCN trains on this graph
    (``tcfg.batch_mode``; under ``auto`` full batch when :func:`full_batch_bytes` fits :func:`memory_budget`)."""
    from graph.gnn.sampling import full_batch_bytes, memory_budget

    if tcfg.batch_mode not in ("auto", "full", "neighbor"):
        raise InvalidInput(f"unknown batch mode {tcfg.batch_mode!r}", code="E1121", fix="use auto, full or neighbor")
    if tcfg.neighbors == 0 or tcfg.neighbors < -1:
        raise InvalidInput(f"--neighbors must be a positive number or -1 (all), not {tcfg.neighbors}", code="E1122",
                           fix="e.g. --neighbors 10")
    if not encodes_graph(mcfg.model):
        return {"mode": "triples", "why": "the model encodes no graph"}
    need = full_batch_bytes(num_entities, mp_edges, dim=mcfg.dim, layers=mcfg.layers, bases=mcfg.num_bases,
                            batch=tcfg.batch_size or 4096)
    budget = memory_budget(device)
    if tcfg.batch_mode != "auto":
        return {"mode": tcfg.batch_mode, "needBytes": need, "budgetBytes": budget, "why": "asked for"}
    mode = "full" if need <= budget else "neighbor"
    return {"mode": mode, "needBytes": need, "budgetBytes": budget,
            "why": f"a full-batch step needs about {need / 2**30:.1f} GiB, {budget / 2**30:.1f} GiB may be used"}


def _save(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """A medkg GNN file (``model.pt`` or ``checkpoint.pt``), or a clear error for anything else."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as e:  # a truncated or foreign file
        raise InvalidInput(f"{path} is not a readable medkg GNN checkpoint ({type(e).__name__})", code="E1110",
                           where=str(path), fix="delete it and train again (kg train-gnn DIR)") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "state" not in obj:
        raise InvalidInput(f"{path} is not a medkg GNN checkpoint of this version", code="E1111", where=str(path),
                           fix="delete it and train again (kg train-gnn DIR)")
    return obj


def train(kg: KGData, split: Split, mcfg: ModelConfig, tcfg: TrainConfig, *, out: Path | None = None,
          resume: bool = False, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``mcfg.model`` on ``split.train``; early-stop on filtered MRR over ``split.valid``. With ``out``,
    checkpoints go there (and ``resume`` continues from ``out/checkpoint.pt``)."""
    device = pick_device(tcfg.device)
    precision = tcfg.precision if tcfg.precision != "auto" else ("bf16" if device.type == "cuda" else "fp32")
    if precision not in ("fp32", "bf16"):
        raise InvalidInput(f"unknown precision {precision!r}", code="E1112", fix="use auto, fp32 or bf16")
    if len(split.valid) == 0:
        raise InvalidInput("no validation triples to stop on", code="E1113",
                           fix="use a larger graph or a larger validation share (--split)")
    torch.manual_seed(tcfg.seed)
    gen = torch.Generator(device=device).manual_seed(tcfg.seed)
    model = build_model(kg.num_entities, kg.num_relations, mcfg).to(device)
    edge_index, edge_type = kg.edge_index(split.train)
    model.set_graph(edge_index.to(device), edge_type.to(device))
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    data_hash = kg.checksum()
    filters = known_index(split.train, split.valid, split.test)
    valid = split.valid
    if len(valid) > tcfg.max_eval:
        valid = valid[np.random.default_rng(tcfg.seed).choice(len(valid), tcfg.max_eval, replace=False)]
    start, best, best_epoch, bad, history = 1, -1.0, 0, 0, []
    mark = -1.0  # the validation MRR of the last evaluation that made progress (a gain of min_gain over the one before)
    meta = {"format": FORMAT, "model": mcfg.as_dict(), "train": tcfg.as_dict(), "maps": kg.maps(),
            "dataHash": data_hash, "split": split.describe(kg.relations)}
    if resume and out is not None and (out / "checkpoint.pt").is_file():
        ck = load_checkpoint(out / "checkpoint.pt")
        if ck.get("dataHash") != data_hash or ck.get("model") != mcfg.as_dict():
            raise InvalidInput("the checkpoint was trained on another graph or model settings", code="E1114",
                               where=str(out / "checkpoint.pt"),
                               fix="train from scratch (drop --resume) or use the settings it was trained with")
        model.load_state_dict(ck["state"])
        opt.load_state_dict(ck["optimizer"])
        start, best, best_epoch, history = ck["epoch"] + 1, ck["best"], ck["bestEpoch"], ck.get("history", [])
        bad, mark = ck.get("bad", 0), ck.get("mark", ck["best"])
    train_t = torch.as_tensor(split.train, dtype=torch.long, device=device)
    mode = choose_batch_mode(kg.num_entities, edge_index.shape[1], mcfg, tcfg, device)["mode"]
    batch_size = tcfg.batch_size or (4096 if mode == "full" else 1024)
    loader = None
    if mode == "neighbor":
        from graph.gnn.sampling import link_loader

        loader = link_loader(edge_index, edge_type, kg.num_entities, train_t, batch_size=batch_size,
                             fanout=[tcfg.neighbors] * mcfg.layers)
    seconds: list[float] = []
    epoch = start - 1
    for epoch in range(start, tcfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        total, steps = 0.0, 0
        for batch in training_batches(train_t, batch_size, gen, loader, device):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = model.loss(batch) if loader is None else model.loss_sampled(*batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total, steps = total + float(loss.detach()), steps + 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
        row = {"epoch": epoch, "loss": total / max(steps, 1), "seconds": seconds[-1]}
        if epoch % tcfg.eval_every == 0 or epoch == tcfg.epochs:
            m = metrics(model, valid, filters, kg.relations, device=device)
            row["validMrr"] = m["filtered"]["both"]["mrr"]
            if row["validMrr"] > best:  # the best weights are kept whatever the gain
                best, best_epoch = row["validMrr"], epoch
                if out is not None:
                    _save(meta | {"state": model.state_dict(), "epoch": epoch, "validMrr": best}, out / "model.pt")
            if mark < 0 or row["validMrr"] >= mark * (1 + tcfg.min_gain):  # progress; creeping up is not
                mark, bad = row["validMrr"], 0
            else:
                bad += 1
            row["stalled"] = bad  # evaluations without progress: training stops when it reaches patience
            history.append(row)
            if out is not None:
                _save(meta | {"state": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "best": best,
                              "bestEpoch": best_epoch, "bad": bad, "mark": mark, "history": history},
                      out / "checkpoint.pt")
        if on_epoch is not None:
            on_epoch(row)
        if bad >= tcfg.patience:
            break
    if out is not None and (out / "model.pt").is_file():
        model.load_state_dict(load_checkpoint(out / "model.pt")["state"])
    model.eval()
    model.prepare()
    return TrainResult(model, best_epoch, epoch, best, device.type, precision,
                       float(np.median(seconds)) if seconds else 0.0, history=history, batch_mode=mode)


def training_batches(train_t: torch.Tensor, batch_size: int, gen: torch.Generator, loader, device: torch.device):
    """Full batch: shuffled ``[B, 3]`` slices of the training triples. Neighbour mode: ``(n_id, edge_index,
    edge_type, hops, pos)`` of each sampled subgraph (``hops``: nodes and edges per hop), ``pos [B, 3]`` in its
    local ids, on ``device``."""
    if loader is None:
        perm = torch.randperm(len(train_t), generator=gen, device=device)
        for s in range(0, len(perm), batch_size):
            yield train_t[perm[s:s + batch_size]]
        return
    for b in loader:
        keep = b.edge_label > 0  # the rest: random node pairs, there as candidates
        h, t = b.edge_label_index[:, keep]
        pos = torch.stack([h, b.edge_label[keep].long() - 1, t], dim=1)
        hops = (list(b.num_sampled_nodes), list(b.num_sampled_edges))
        yield b.n_id.to(device), b.edge_index.to(device), b.edge_type.to(device), hops, pos.to(device)
