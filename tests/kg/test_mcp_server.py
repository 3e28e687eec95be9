"""kg/mcp_server.py: `kg mcp DIR` as an agent meets it: an MCP client starts it over stdio and calls its tools."""

import base64
import json
import sys

import pytest

mcp = pytest.importorskip("mcp")


def call(sample_build, steps):
    import anyio
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters

    async def run():
        params = StdioServerParameters(command=sys.executable, args=["-m", "kg", "mcp", str(sample_build)])
        async with Client(params) as client:
            return [await step(client) for step in steps]

    return anyio.run(run)


def payload(result) -> object:
    if getattr(result, "structured_content", None) is not None:
        s = result.structured_content
        return s.get("result", s) if isinstance(s, dict) and set(s) == {"result"} else s
    return json.loads(result.content[0].text)


def test_tools_over_stdio(sample_build):
    img = (sample_build / "index" / "ids.txt").read_text().split()[0]

    async def tools(c):
        return sorted(t.name for t in (await c.list_tools()).tools)

    async def context(c):
        return await c.call_tool("get_context", {"image_id": img, "options": {"k": 3}, "question": "Is there an effusion?"})

    async def concept(c):
        return await c.call_tool("lookup_concept", {"query": "pleural effusion"})

    async def similar(c):
        return await c.call_tool("similar_images", {"image_id": img, "k": 2})

    async def bad(c):
        return await c.call_tool("lookup_concept", {"query": "no such thing"})

    async def noise(c):
        from tests.graph.retrieve.test_ood import noise_png

        b64 = base64.b64encode(noise_png()).decode()
        return await c.call_tool("get_context", {"image_b64": b64, "question": "Is there an effusion?"})

    async def photo(c):
        from tests.graph.retrieve.test_ood import photo_path

        return await c.call_tool("get_context", {"image_path": photo_path(), "question": "Is there an effusion?"})

    names, ctx, con, sim, err, *unlike = call(sample_build, [tools, context, concept, similar, bad, noise, photo])
    assert names == ["get_context", "lookup_concept", "similar_images"]
    c = payload(ctx)
    assert c["prompt"].endswith("Is there an effusion?") and len(c["context"]["neighbours"]) == 3
    assert c["context"]["findings"][0]["citations"][0]["reportId"]
    assert payload(con)["concept"]["cui"] == "C0032227"
    s = payload(sim)
    assert len(s) == 2 and img not in {h["id"] for h in s}
    assert err.is_error and "no concept named" in err.content[0].text and "Fix:" in err.content[0].text
    assert c["abstained"] is None
    for result in unlike:  # noise and a photograph that is no radiograph: an abstention, never findings
        u = payload(result)
        assert u["abstained"].startswith("no similar image in the graph") and u["context"]["findings"] == []
        assert u["prompt"].startswith("The knowledge graph has no context for this query")
