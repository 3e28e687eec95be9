"""`kg mcp DIR`: medkg's knowledge graph as tools for agentic VLMs, over the Model Context Protocol (stdio).

Tools: ``get_context`` (the cited KG context and a rendered prompt for an image, an image id or a text),
``lookup_concept`` (a concept by CUI or name, with its relations and how many images state it by polarity) and
``similar_images`` (the nearest images of the graph, with their positive findings). Built on ``kg.rag`` and
``graph.retrieve``; a mistake comes back as a tool error carrying medkg's message and fix.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path

from graph.retrieve.query import QueryOptions
from kg.core.errors import KGError
from kg.core.extras import require
from kg.rag.prompt import PromptOptions


def build_server(graph_dir: Path):
    require("mcp", "the MCP server")
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from graph.retrieve import find_concept, neighbourhood
    from graph.retrieve import similar_images as nearest_to
    from graph.stores import open_store
    from kg import __version__
    from kg.rag import KGRAG

    store = open_store(graph_dir)
    rag = KGRAG.from_store(graph_dir)
    server = MCPServer(name="medkg", version=__version__, instructions=(
        "A medical multimodal knowledge graph built from radiology reports and images (MEDMKG model). Use "
        "get_context to ground an answer about a chest radiograph: it returns findings of similar cases with their "
        "polarity (present / absent / uncertain), related concepts, and citations to the source reports."))

    def answers(fn):
        """A medkg error (a mistake in the call) comes back to the agent as a tool error with its message and fix."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except KGError as exc:
                raise ToolError(exc.message) from None

        return wrapper

    def image_arg(image_path: str | None, image_b64: str | None):
        if image_b64:
            return base64.b64decode(image_b64)
        return image_path

    @server.tool()
    @answers
    def get_context(image_path: str | None = None, image_b64: str | None = None, image_id: str | None = None,
                    text: str | None = None, question: str | None = None, options: QueryOptions | None = None,
                    prompt: PromptOptions | None = None) -> dict:
        """The knowledge-graph context for a chest radiograph (a file path, base64 bytes or an image id of the graph)
        or for a text (question or draft report): findings of the most similar cases with polarity, how many of them
        agree and how similar they are, concept triplets, citations, and a prompt (`prompt.format`: findings,
        kg-llava, medmkg, json). `options` sets how to retrieve (k, hops, ood_percentile, ...). When the graph holds no
        similar image (the best match below the graph's own best matches at `options.ood_percentile`) or no concept
        of the text, `abstained` says why and there are no findings: answer from the image alone then."""
        fields = (options.model_dump() if options else {}) | (prompt.model_dump() if prompt else {})
        out = rag.augment(image_arg(image_path, image_b64), question, image_id=image_id, text=text, **fields)
        return {"prompt": out.prompt, "context": out.context.as_json(), "k": out.metadata["k"],
                "abstained": out.abstained}

    @server.tool()
    @answers
    def lookup_concept(query: str, limit: int = 20) -> dict:
        """A concept by UMLS CUI (C0032227) or name ("pleural effusion"): its relations to other concepts and how
        many images of the graph state it as present, absent or uncertain."""
        return neighbourhood(store, find_concept(store, query), limit=limit).as_json()

    @server.tool()
    @answers
    def similar_images(image_path: str | None = None, image_b64: str | None = None, image_id: str | None = None,
                       k: int = 5) -> list[dict]:
        """The k images of the graph most similar to an image (file path, base64 bytes or an image id), with score,
        study, whether NaF kept them, and their positive findings."""
        query = image_id or image_arg(image_path, image_b64)
        return [h.as_json() for h in nearest_to(store, query, k=k)]

    return server


def serve_stdio(graph_dir: Path) -> None:
    build_server(graph_dir).run()
