"""Interchange formats of a built graph, read and written: MedMKG's triples CSV (both ways, ``medmkg.py``),
GraphML and RDF Turtle (``export.py``, with the registry of ``kg export --format``) and neo4j-admin import CSVs
(``neo4j_admin.py``).

It may import ``graph.model``, ``graph.store`` and ``kg.core``.
"""
