"""Which Neo4j a command talks to."""

from __future__ import annotations

import typer


def neo4j_settings(uri: str | None, database: str | None):
    """--neo4j URI, else $NEO4J_URI, else medkg's own local server when it runs (`kg neo4j start`)."""
    from kg.core.extras import require

    require("neo4j", "talking to Neo4j")

    from graph.neo4j import Neo4jSettings
    from kg.core.environment import neo4j_env

    if uri or neo4j_env().uri:
        return Neo4jSettings.from_env(uri, database=database)
    from kg.neo4j_local import ServerHome, pid_of

    home = ServerHome.resolve()
    if home.installed and pid_of(home):
        typer.secho(f"using medkg's local Neo4j at {home.uri()} ({home.path}); set NEO4J_URI to use another server",
                    err=True)
        return Neo4jSettings.from_env(home.uri(), password=home.password(), database=database)
    return Neo4jSettings.from_env(None, database=database)
