"""The retrieval service: ``app.py`` (the FastAPI app over the one query model), ``gateway.py`` (the
OpenAI-compatible gateway to a VLM server, on the same app) and ``server.py`` (``kg serve`` on uvicorn: the bind
address, the API key rule, startup errors).

It may import ``kg.core``, ``kg.rag``, ``graph`` and the version in ``kg``; nothing but ``kg.cli`` and the tests import it.
"""

from kg.serve.server import (
    build_app,
    is_loopback,
    serve,
)

__all__ = ["build_app", "is_loopback", "serve"]
