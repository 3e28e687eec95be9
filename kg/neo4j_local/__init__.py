"""A local Neo4j Community server for machines without Docker (`kg neo4j install|start|stop|status`).

``server.py`` assembles it from Maven Central (the recipe ``pom.xml`` beside it), writes its configuration,
starts and stops it; ``guide/`` is the Browser guide it serves. It may import ``kg.core`` only.
"""

from kg.neo4j_local.server import (
    ServerHome,
    admin,
    guide_dir,
    install,
    kill,
    pid_of,
    serve_guide,
    start,
    stop,
    write_conf,
)

__all__ = ["ServerHome", "admin", "guide_dir", "install", "kill", "pid_of", "serve_guide", "start", "stop", "write_conf"]
