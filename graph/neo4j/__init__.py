"""The graph in Neo4j: a client (``client``), the batched, idempotent, resumable loader (``loader``, with its batch
writer in ``batches``) and the store over a loaded database (``store``).

It may import ``graph.model``, ``graph.store`` and ``kg.core``."""

from graph.neo4j.client import (
    VECTOR_INDEX,
    WRITE_TYPES,
    Neo4jClient,
    Neo4jSettings,
    clear,
    graph_checksum,
    query,
    similar_in_neo4j,
)
from graph.neo4j.loader import (
    CHECKPOINT_LABEL,
    INDEXES,
    LoadReport,
    create_schema,
    create_vector_index,
    edge_cypher,
    edge_rows,
    load_graph,
    vector_properties,
)

__all__ = ["CHECKPOINT_LABEL", "INDEXES", "VECTOR_INDEX", "WRITE_TYPES", "LoadReport", "Neo4jClient", "Neo4jSettings",
           "clear", "create_schema", "create_vector_index", "edge_cypher", "edge_rows", "graph_checksum", "load_graph",
           "query", "similar_in_neo4j", "vector_properties"]
