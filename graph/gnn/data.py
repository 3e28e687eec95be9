"""The knowledge graph as integer triples for PyTorch Geometric, with stable, collision-free id maps.

Entities are ``(label, key)`` pairs (``("Concept", "C0032227")``, ``("Image", "I5012…")``) numbered in sorted
order, so the same graph always gets the same ids; relations are relationship types, also sorted. Nothing is
hashed into a fixed range (MedMKG's ``md5(name) % 8017`` put 8,017 entities on 5,070 ids).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from graph.model import Graph
from kg.core.errors import InvalidInput

LABELS = ("Image", "Concept")  # the nodes a GNN learns: studies and patients only group images
SKIPPED_TYPES = ("SIMILAR_TO",)  # derived from the image embeddings, not knowledge


@dataclass
class KGData:
    """``triples``: int64 array of shape ``[E, 3]`` (head, relation, tail), unique, sorted.
    ``entities[i]`` is entity i's ``(label, key)``; ``relations[r]`` relation r's type; ``names[i]`` a display name."""

    entities: list[tuple[str, str]]
    relations: list[str]
    triples: np.ndarray
    names: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.index = {e: i for i, e in enumerate(self.entities)}
        self.relation_index = {r: i for i, r in enumerate(self.relations)}
        if not self.names:
            self.names = [k for _, k in self.entities]

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def checksum(self) -> str:
        """sha256 of the triples as names (independent of numbering): what a model was trained on."""
        h = hashlib.sha256()
        for a, r, b in sorted((self.entities[a], self.relations[r], self.entities[b]) for a, r, b in self.triples.tolist()):
            h.update(f"{a[0]}:{a[1]}\t{r}\t{b[0]}:{b[1]}\n".encode())
        return "sha256:" + h.hexdigest()

    def describe(self) -> dict:
        labels: dict[str, int] = {}
        for label, _ in self.entities:
            labels[label] = labels.get(label, 0) + 1
        return {"entities": self.num_entities, "byLabel": labels, "relations": self.num_relations,
                "triples": int(len(self.triples))}

    def maps(self) -> dict:
        """What a checkpoint stores to map its rows back to the graph."""
        return {"entities": [list(e) for e in self.entities], "relations": list(self.relations), "names": self.names}

    @classmethod
    def from_triples(cls, rows: list[tuple[tuple[str, str], str, tuple[str, str]]],
                     names: dict[tuple[str, str], str] | None = None) -> KGData:
        """From ``((label, key), relation, (label, key))`` rows (duplicates dropped)."""
        if not rows:
            raise InvalidInput("the graph has no edges between images and concepts to learn from", code="E1101",
                               fix="build a graph with findings (kg build) or import one (kg import medmkg)")
        entities = sorted({e for h, _, t in rows for e in (h, t)})
        relations = sorted({r for _, r, _ in rows})
        index = {e: i for i, e in enumerate(entities)}
        rindex = {r: i for i, r in enumerate(relations)}
        arr = np.array(sorted({(index[h], rindex[r], index[t]) for h, r, t in rows}), dtype=np.int64).reshape(-1, 3)
        names = names or {}
        return cls(entities, relations, arr, [names.get(e) or e[1] for e in entities])

    @classmethod
    def from_graph(cls, g: Graph, *, labels: tuple[str, ...] = LABELS) -> KGData:
        """Every relationship between nodes of ``labels`` (default: images and concepts), typed by its type."""
        rows: list[tuple[tuple[str, str], str, tuple[str, str]]] = []
        for t in g.edges.values():
            if t.source_label in labels and t.target_label in labels and t.type not in SKIPPED_TYPES:
                rows.extend(((t.source_label, r["_start"]), t.type, (t.target_label, r["_end"])) for r in t.rows)
        names = {("Concept", r["cui"]): r.get("name") or r["cui"] for r in g.nodes["Concept"].rows} \
            if "Concept" in g.nodes else {}
        return cls.from_triples(rows, names)

    @classmethod
    def from_maps(cls, maps: dict, triples: np.ndarray) -> KGData:
        return cls([tuple(e) for e in maps["entities"]], list(maps["relations"]), triples, list(maps.get("names") or []))

    def edge_index(self, triples: np.ndarray, *, inverse: bool = True):
        """Message-passing edges of ``triples`` as PyG wants them: ``edge_index`` ``[2, E']`` and ``edge_type``
        ``[E']`` (torch.long); with ``inverse``, each edge also runs backwards as relation ``r + num_relations``."""
        import torch

        t = torch.as_tensor(triples, dtype=torch.long)
        src, rel, dst = t[:, 0], t[:, 1], t[:, 2]
        if inverse:
            src, dst, rel = torch.cat([src, dst]), torch.cat([dst, src]), torch.cat([rel, rel + self.num_relations])
        return torch.stack([src, dst]), rel

    def to_pyg(self, triples: np.ndarray | None = None, *, inverse: bool = True):
        """A ``torch_geometric.data.Data`` with ``edge_index``, ``edge_type`` and ``num_nodes`` (all triples when
        ``triples`` is None; pass the training split so no held-out edge is seen)."""
        from torch_geometric.data import Data

        edge_index, edge_type = self.edge_index(self.triples if triples is None else triples, inverse=inverse)
        return Data(edge_index=edge_index, edge_type=edge_type, num_nodes=self.num_entities)
