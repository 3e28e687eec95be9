"""Exports of a built graph: GraphML (networkx) and RDF Turtle (rdflib).

RDF: nodes are ``urn:medkg:<Label>/<id>``; concepts use the UMLS CUI IRIs of Linked Life
Data (``http://linkedlifedata.com/resource/umls/id/<CUI>``); relationship types become
predicates ``urn:medkg:rel/<TYPE>``; node properties ``urn:medkg:prop/<name>``. Edges become
plain triples without their properties (evidence, support): use GraphML or the Parquet tables
when you need those.
"""

from __future__ import annotations

import json
from pathlib import Path

from graph.formats.medmkg import write_medmkg
from graph.model import NODE_KEYS, Graph
from graph.store import to_networkx
from kg.core.registry import Registry

UMLS_IRI = "http://linkedlifedata.com/resource/umls/id/"
FORMATS: Registry = Registry("export format", option="--format")  # filled below


def _scalar(v):
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, sort_keys=True)
    return v


def write_graphml(g: Graph, path: Path) -> None:
    import networkx as nx

    G = to_networkx(g)
    H = nx.MultiDiGraph()
    for n, d in G.nodes(data=True):
        H.add_node(n, **{k: _scalar(v) for k, v in d.items() if v is not None})
    for u, v, k, d in G.edges(keys=True, data=True):
        H.add_edge(u, v, key=k, **{kk: _scalar(vv) for kk, vv in d.items() if vv is not None})
    nx.write_graphml(H, path)


def write_turtle(g: Graph, path: Path) -> None:
    from rdflib import RDF, RDFS, Literal, Namespace, URIRef
    from rdflib import Graph as RDFGraph

    MK = Namespace("urn:medkg:")
    REL = Namespace("urn:medkg:rel/")
    PROP = Namespace("urn:medkg:prop/")
    rdf = RDFGraph()
    rdf.bind("mk", MK)
    rdf.bind("rel", REL)
    rdf.bind("prop", PROP)
    rdf.bind("umls", Namespace(UMLS_IRI))

    def iri(label: str, key: str) -> URIRef:
        return URIRef(UMLS_IRI + key) if label == "Concept" else MK[f"{label}/{key}"]

    for label, t in g.nodes.items():
        key = NODE_KEYS.get(label, "id")
        for r in t.rows:
            s = iri(label, r[key])
            rdf.add((s, RDF.type, MK[label]))
            for k, v in r.items():
                if v is None or k == key:
                    continue
                if k == "name":
                    rdf.add((s, RDFS.label, Literal(v)))
                for item in v if isinstance(v, list) else [v]:
                    rdf.add((s, PROP[k], Literal(item)))
    for e in g.edges.values():
        for r in e.rows:
            rdf.add((iri(e.source_label, r["_start"]), REL[e.type], iri(e.target_label, r["_end"])))
    rdf.serialize(destination=str(path), format="turtle")


FORMATS.add("graphml", write_graphml)
FORMATS.add("rdf", write_turtle)


FORMATS.add("medmkg", write_medmkg)
SUFFIX = {"graphml": "graphml", "rdf": "ttl", "medmkg": "medmkg.csv"}
