"""A minimal OpenAI-compatible VLM server for the gateway's tests: the tiny LLaVA-style model a test saved (random
weights, nothing downloaded), loaded with transformers and asked through its processor's chat template, behind
``POST /v1/chat/completions`` (plain and SSE streaming) and ``GET /v1/models`` in OpenAI's wire format. Every
response is validated against the ``openai`` SDK's own types before it is sent.

``python upstream.py MODEL_DIR PORT [--slow SECONDS]``; ``GET /last`` returns the last chat request it received
(the test checks what the gateway forwarded). ``MODEL_DIR`` ``--echo`` loads no model and answers every request
with the same few words at once (the gateway benchmark's upstream: its own latency is only the HTTP round trip).
"""

from __future__ import annotations

import base64
import io
import json
import sys
import time
import uuid

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from PIL import Image

NAME = "tiny-llava"


def model_generate(folder: str):
    """The tiny model's generate: OpenAI messages in, (tokens, prompt length) out."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    model = LlavaForConditionalGeneration.from_pretrained(folder, local_files_only=True)

    def generate(messages: list[dict], max_tokens: int) -> tuple[list[str], int]:
        chat, images = [], []
        for m in messages:
            content = m["content"]
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            parts = []
            for p in content:
                if p["type"] == "image_url":
                    head, _, data = p["image_url"]["url"].partition(",")
                    images.append(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
                    parts.append({"type": "image"})
                else:
                    parts.append({"type": "text", "text": p["text"]})
            chat.append({"role": m["role"], "content": parts})
        text = processor.apply_chat_template(chat, add_generation_prompt=True)
        inputs = processor(images=images or None, text=text, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1]:]
        return [processor.tokenizer.decode([int(t)]) for t in new], int(inputs["input_ids"].shape[1])

    return generate


def echo(messages: list[dict], max_tokens: int) -> tuple[list[str], int]:
    return ["no", "acute", "findings"][:max_tokens], len(json.dumps(messages)) // 4


def main() -> None:
    folder, port = sys.argv[1], int(sys.argv[2])
    slow = float(sys.argv[sys.argv.index("--slow") + 1]) if "--slow" in sys.argv else 0.0
    app = FastAPI()
    last: dict = {}
    generate = echo if folder == "--echo" else model_generate(folder)

    @app.get("/v1/models")
    def models() -> dict:
        m = Model(id=NAME, object="model", created=0, owned_by="medkg-tests")
        return {"object": "list", "data": [m.model_dump()]}

    calls = [0]

    @app.get("/last")
    def last_request() -> dict:
        return last

    @app.get("/calls")
    def chat_calls() -> dict:
        return {"calls": calls[0]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        calls[0] += 1
        last.clear()
        last.update(body)
        last["_authorization"] = request.headers.get("authorization")  # what the gateway sent as the key
        if body.get("model") != NAME:
            return JSONResponse({"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                           "type": "NotFoundError", "param": None, "code": 404}}, status_code=404)
        if slow:
            time.sleep(slow)
        tokens, prompt_tokens = generate(body["messages"], int(body.get("max_tokens") or 6))
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not body.get("stream"):
            done = ChatCompletion.model_validate({
                "id": cid, "object": "chat.completion", "created": created, "model": NAME,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(tokens)},
                             "finish_reason": "length"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                          "total_tokens": prompt_tokens + len(tokens)}})
            return JSONResponse(done.model_dump(exclude_none=True))

        def events():
            for n, t in enumerate(tokens):
                delta = {"role": "assistant", "content": t} if n == 0 else {"content": " " + t}
                chunk = ChatCompletionChunk.model_validate({
                    "id": cid, "object": "chat.completion.chunk", "created": created, "model": NAME,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                yield f"data: {json.dumps(chunk.model_dump(exclude_none=True))}\n\n"
            end = ChatCompletionChunk.model_validate({
                "id": cid, "object": "chat.completion.chunk", "created": created, "model": NAME,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
            yield f"data: {json.dumps(end.model_dump(exclude_none=True))}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
