"""GNN runs on a build folder: train a model and write its embeddings back, compare the trained models, predict.

Each model lives in ``DIR/gnn/<model>/`` (``model.pt`` best weights with the id maps, settings, data hash and
split; ``checkpoint.pt`` to resume; ``metrics.json`` test metrics). Training writes ``gnnEmbedding`` on the
``Concept`` and ``Image`` nodes through the store API and records the run in the manifest (``gnn``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from graph.gnn.data import KGData
from graph.gnn.split import split_edges
from graph.store import FileStore
from kg.core.errors import InvalidInput, NotFound

GNN_DIR = "gnn"
PROPERTY = "gnnEmbedding"


def train_store(out: Path, *, model_cfg, train_cfg, ratios=(0.8, 0.1, 0.1), split_seed: int = 0, resume: bool = False,
                write: bool = True, on_epoch: Callable[[dict], None] | None = None,
                on_start: Callable[[dict], None] | None = None) -> dict:
    """Train one model on the build in ``out``; returns its manifest record (with test metrics)."""
    from graph.gnn.evaluate import known_index, metrics
    from graph.gnn.train import choose_batch_mode, train
    from kg.core.devices import pick_device

    store = FileStore(out)
    kg = KGData.from_graph(store.graph)
    split = split_edges(kg.triples, ratios=ratios, seed=split_seed)
    folder = out / GNN_DIR / model_cfg.model
    folder.mkdir(parents=True, exist_ok=True)
    if on_start is not None:
        mode = choose_batch_mode(kg.num_entities, 2 * len(split.train), model_cfg, train_cfg,
                                 pick_device(train_cfg.device))
        on_start({"graph": kg.describe(), "split": split.describe(kg.relations), "batch": mode})
    res = train(kg, split, model_cfg, train_cfg, out=folder, resume=resume, on_epoch=on_epoch)
    test = metrics(res.model, split.test, known_index(split.train, split.valid, split.test), kg.relations)
    record = {"model": model_cfg.as_dict(), "train": train_cfg.as_dict(), "dataHash": kg.checksum(),
              "graph": kg.describe(), "split": split.describe(kg.relations), "device": res.device,
              "precision": res.precision, "batchMode": res.batch_mode, "bestEpoch": res.best_epoch, "epochsRun": res.epochs_run,
              "epochSeconds": round(res.epoch_seconds, 4), "validMrr": res.valid_mrr, "test": test}
    (folder / "metrics.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if write:
        emb = res.model.embeddings().detach().float().cpu().numpy()
        for label in ("Concept", "Image"):
            values = {key: emb[i] for i, (lab, key) in enumerate(kg.entities) if lab == label}
            if values:
                store.write_node_property(label, PROPERTY, values, writer=f"gnn/{model_cfg.model}")
        record["embeddings"] = {"property": PROPERTY, "dim": int(emb.shape[1])}
    files = sorted(f.relative_to(out).as_posix() for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    store.record_gnn(model_cfg.model, record, files)
    return record


def eval_rows(out: Path) -> list[dict]:
    """One row per trained model: ``{"model", "filtered": {"head"|"tail": {mrr, hits@1, hits@3, hits@10}}, "raw":
    {...}, "bestEpoch", "epochSeconds", "device"}``, best filtered tail MRR first."""
    m = FileStore(out).manifest
    if not m.gnn:
        raise NotFound(f"no trained GNN in {out}", code="E2102", fix=f"run kg train-gnn {out} first")
    keep = ("mrr", "hits@1", "hits@3", "hits@10")
    rows = []
    for name, rec in m.gnn.items():
        test = rec.get("test", {})
        rows.append({"model": name,
                     **{kind: {side: {k: test.get(kind, {}).get(side, {}).get(k) for k in keep} for side in ("head", "tail")}
                        for kind in ("filtered", "raw")},
                     "bestEpoch": rec.get("bestEpoch"), "epochSeconds": rec.get("epochSeconds"),
                     "device": rec.get("device"), "split": {k: rec["split"][k] for k in ("seed", "train", "valid", "test")}})
    return sorted(rows, key=lambda r: -(r["filtered"]["tail"]["mrr"] or 0))


def load_model(out: Path, model: str | None = None):
    """The trained model (default: the one whose embeddings the store holds), its graph data and split."""
    from graph.gnn.models import ModelConfig, build_model
    from graph.gnn.train import load_checkpoint

    store = FileStore(out)
    trained = store.manifest.gnn
    if not trained:
        raise NotFound(f"no trained GNN in {out}", code="E2103", fix=f"run kg train-gnn {out} first")
    if model is None:
        writer = next((p.writer for p in store.manifest.properties if p.name == PROPERTY), "")
        model = writer.split("/", 1)[1] if writer.startswith("gnn/") and writer[4:] in trained else sorted(trained)[0]
    if model not in trained:
        raise NotFound(f"no trained model {model!r} in {out}", code="E2104", fix="trained: " + ", ".join(sorted(trained)))
    path = out / GNN_DIR / model / "model.pt"
    if not path.is_file():
        raise NotFound(f"{path} is missing", code="E2105", fix=f"train it again: kg train-gnn {out} --model {model}")
    ck = load_checkpoint(path)
    kg = KGData.from_graph(store.graph)
    if ck["dataHash"] != kg.checksum():
        raise InvalidInput(f"the graph in {out} changed since {model} was trained", code="E1116", where=str(path),
                           fix=f"train again: kg train-gnn {out} --model {model}")
    s = ck["split"]
    split = split_edges(kg.triples, ratios=tuple(s["ratios"]), seed=s["seed"])
    net = build_model(kg.num_entities, kg.num_relations, ModelConfig(**ck["model"]))
    try:
        net.load_state_dict(ck["state"])
    except RuntimeError:
        raise InvalidInput(f"{path} does not match its model settings", code="E1117", where=str(path),
                           fix=f"train again: kg train-gnn {out} --model {model}") from None
    edge_index, edge_type = kg.edge_index(split.train)
    net.set_graph(edge_index, edge_type)
    net.eval()
    return net, kg, split, model


def predict(out: Path, head: str, relation: str, *, k: int = 10, model: str | None = None) -> dict:
    """The ``k`` best tails for ``(head, relation, ?)`` with names, scores and whether the graph has the edge."""
    import torch

    net, kg, _, name = load_model(out, model)
    key = next(((lab, head) for lab in ("Concept", "Image") if (lab, head) in kg.index), None)
    if key is None:
        raise NotFound(f"{head!r} is no concept or image of the trained graph", code="E2106",
                       fix="pass a CUI (C0032227) or an image id that has edges in the graph")
    rel = {r.upper(): r for r in kg.relations}.get(relation.upper())
    if rel is None:
        more = f" (and {len(kg.relations) - 20} more: kg stats DIR lists them)" if len(kg.relations) > 20 else ""
        raise NotFound(f"no relation {relation!r} in the graph", code="E2107",
                       fix="use one of: " + ", ".join(kg.relations[:20]) + more)
    if not 1 <= k <= 1000:
        raise InvalidInput(f"-k must be 1..1000, not {k}", code="E1118", fix="e.g. -k 10")
    h, r = kg.index[key], kg.relation_index[rel]
    with torch.no_grad():
        net.prepare()
        scores = net.score_tails(torch.tensor([h]), torch.tensor([r]))[0].float().numpy()
    known = set(kg.triples[(kg.triples[:, 0] == h) & (kg.triples[:, 1] == r), 2].tolist())
    order = np.argsort(-scores, kind="stable")[:k]
    return {"model": name, "head": {"label": key[0], "key": head, "name": kg.names[h]}, "relation": rel,
            "tails": [{"rank": n + 1, "label": kg.entities[i][0], "key": kg.entities[i][1], "name": kg.names[i],
                       "score": round(float(scores[i]), 5), "known": int(i) in known} for n, i in enumerate(order)]}
