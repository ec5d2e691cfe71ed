"""A local OpenAI-compatible chat-completions endpoint in front of a local recognizer (e.g. the demo's collage
reader), so the online path (``openai`` client, answer cache, retries, cost) runs end to end without a paid API.

``POST /v1/chat/completions`` takes the request the ``openai`` recognizer sends (a text part and one
``image_url`` data URL per message), answers with the recognizer's text, and reports ``usage`` as the token scheme
counts it (image tokens at the request's detail plus ceil(characters / 4) for text). The collage's grid is read from
the prompt ("each 3x3 grid collage"); a prompt without one is a single image. ``fail_first`` answers the first
requests with HTTP 429 (``Retry-After: 0``) to exercise the client's backoff; ``requests`` counts every request.
"""
from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

from bench.methods.collage_prompting.cost import estimate_text_tokens, image_tokens
from bench.methods.collage_prompting.recognizers import Recognizer

GRID_IN_PROMPT = re.compile(r"(\d)x(\d) grid collage")


def decode_data_url(url: str) -> np.ndarray:
    """The RGB uint8 image of a ``data:image/...;base64,`` URL."""
    if not url.startswith("data:image/") or ";base64," not in url:
        raise ValueError("image_url must be a base64 data URL")
    data = base64.b64decode(url.split(";base64,", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


class LocalChatServer:
    """A threaded HTTP server on ``host`` (a free port when ``port`` is 0) answering with ``recognizer``; use as a
    context manager (``url`` is the base URL to give the ``openai`` recognizer)."""

    def __init__(self, recognizer: Recognizer, categories: Sequence[str], model: str = "collage-reader",
                 host: str = "127.0.0.1", port: int = 0, fail_first: int = 0) -> None:
        self.recognizer, self.categories, self.model = recognizer, list(categories), model
        self.fail_first = int(fail_first)
        self.requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1" if isinstance(host, str) else f"http://{host.decode()}:{port}/v1"

    def __enter__(self) -> LocalChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat-completion response to a request ``body``."""
        parts = body["messages"][-1]["content"]
        prompt = "".join(part.get("text", "") for part in parts if part.get("type") == "text")
        image_part = next(part for part in parts if part.get("type") == "image_url")["image_url"]
        image = decode_data_url(image_part["url"])
        match = GRID_IN_PROMPT.search(prompt)
        grid = int(match.group(1)) if match else None
        text = self.recognizer.recognize(image, prompt, grid, self.categories).text
        prompt_tokens = image_tokens(image.shape[1], image.shape[0], image_part.get("detail", "high")) \
            + estimate_text_tokens(prompt)
        completion_tokens = estimate_text_tokens(text)
        return {"id": f"chatcmpl-local-{self.requests}", "object": "chat.completion", "created": 0,
                "model": self.model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def _send(self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.requests += 1
                    server.bodies.append(body)
                    server.headers.append({key.lower(): value for key, value in self.headers.items()})
                    failing = server.requests <= server.fail_first
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                elif failing:
                    self._send(429, {"error": {"message": "rate limited (test)", "type": "rate_limit"}},
                               {"Retry-After": "0"})
                else:
                    try:
                        self._send(200, server.answer(body))
                    except (KeyError, ValueError, StopIteration, TypeError) as error:
                        self._send(400, {"error": {"message": f"bad request: {error}", "type": "invalid_request"}})

        return Handler
