"""Recognizer back-ends behind one interface: ``recognize(image, prompt, grid, categories) -> Recognition`` (the
answer text and what it cost).

- ``openai``: any OpenAI-compatible chat-completions endpoint through the ``openai`` package (OpenAI's GPT-4-class
  models, or a local vLLM / Ollama server with a vision model). Every answer is cached on disk under a hash of
  (model, prompt, image bytes, parameters), so a rerun or a resume costs nothing; transient failures (rate limits,
  timeouts, 5xx) are retried with exponential backoff (``Retry-After`` when the server sends one). The API key is
  read only from the environment variable ``api_key_env`` and is never cached, logged or described.
- ``local_classifier``: a registered classifier (``bench.registry.METHODS``, e.g. ``TimmClassifier``) names each
  tile: the cheap baseline.
- ``collage_reader``: the demo's small model that reads a whole collage (:mod:`.demo_reader`).

Local back-ends answer in the indexed format the prompt asks for, so every back-end goes through the same parser.
A :class:`UsdBudget` refuses a new (uncached) call that would pass ``max_usd``: :class:`BudgetReached` stops the run
with every finished answer kept (cached here, stored by the runner).
"""
from __future__ import annotations

import base64
import hashlib
import importlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.io import atomic_write_json
from bench.methods.collage_prompting.collage import cut_collage, format_indexed_answer, to_uint8_hwc
from bench.methods.collage_prompting.cost import CallCost, Pricing, call_cost, check_detail, estimate_text_tokens, \
    image_tokens
from bench.suggest import suggest

log = logging.getLogger("bench")

CACHE_VERSION = 1  # bump when the cached fields or the key change


class EndpointError(ValueError):
    """The endpoint refused or kept failing (wrong key, model or URL; still rate-limited after every retry). A
    ValueError so the CLI prints the message without a traceback: the fix is a setting or a wait, and every answer
    already received is cached."""


class BudgetReached(ValueError):
    """``max_usd`` would be passed by the next uncached call: the run stops; finished answers are cached and stored,
    and a rerun with ``--resume`` continues from them without paying again. The cap is per session (a process):
    ``max_usd`` is part of the config, so changing it would start a new run folder (which also reads the cache)."""


class UsdBudget:
    """The dollars new (uncached) calls spent in this process, against ``max_usd`` (None: no cap)."""

    def __init__(self, max_usd: float | None = None) -> None:
        if max_usd is not None and (isinstance(max_usd, bool) or not float(max_usd) >= 0):
            raise ValueError(f"max_usd must be a non-negative number of US dollars or None, got {max_usd!r}")
        self.max_usd = None if max_usd is None else float(max_usd)
        self.spent = 0.0
        self.calls = 0

    def ensure_room(self, estimate_usd: float) -> None:
        """Raise :class:`BudgetReached` when a call expected to cost ``estimate_usd`` would pass the cap."""
        if self.max_usd is not None and self.spent + estimate_usd > self.max_usd:
            raise BudgetReached(
                f"max_usd={self.max_usd:g} reached: {self.calls} new calls cost ${self.spent:.4f} in this session "
                f"and the next would cost about ${estimate_usd:.4f}. Every finished answer is kept (stored, and "
                "cached): rerun with --resume to continue, with max_usd again for that session's new calls (paid "
                "answers come from the cache at no cost)")

    def charge(self, usd: float) -> None:
        self.spent += float(usd)
        self.calls += 1


@dataclass(frozen=True)
class Recognition:
    """One call's answer text, cost, and whether it came from the cache (no request was made)."""

    text: str
    cost: CallCost
    cached: bool = False


def image_digest(image: np.ndarray) -> str:
    """sha256 over an image's shape, dtype and pixel bytes (not an encoded file, whose bytes depend on the encoder)."""
    array = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{array.shape}|{array.dtype}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def cache_key(model: str, prompt: str, image: np.ndarray, params: dict[str, Any]) -> str:
    """The cache key of a request: sha256 of a canonical JSON of (version, model, prompt, image digest, parameters).
    Each field is a separate JSON value, so no two different requests serialise alike (no concatenation
    ambiguity); ``params`` must be JSON values."""
    payload = {"version": CACHE_VERSION, "model": model, "prompt": prompt, "image_sha256": image_digest(image),
               "params": params}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseCache:
    """Answers on disk, one JSON file per key (``<dir>/<key[:2]>/<key>.json``), written atomically, so concurrent
    ranks and an interrupted run never leave a half-written entry; an unreadable entry counts as a miss."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            log.warning("collage cache entry %s is unreadable (%s); asking again", path, error)
            return None
        return entry if isinstance(entry, dict) and entry.get("key") == key and "text" in entry else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        atomic_write_json(self.path(key), {**entry, "key": key})


def encode_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(to_uint8_hwc(image)).save(buffer, format="PNG")
    return buffer.getvalue()


class Recognizer:
    """A recognition back-end. ``detail`` and ``pricing`` price every call by :func:`.cost.call_cost` (a local
    back-end with prices bills what the same call would cost an API: the demo's stand-in)."""

    backend = ""

    def __init__(self, detail: str = "high", pricing: dict[str, float] | None = None) -> None:
        self.detail = check_detail(detail)
        self.pricing = Pricing.from_config(pricing)

    def setup(self, device: torch.device) -> None:
        """Load weights onto ``device`` (local back-ends); nothing for a remote one."""

    def recognize(self, image: np.ndarray, prompt: str, grid: int | None, categories: Sequence[str],
                  budget: UsdBudget | None = None) -> Recognition:
        """The answer to ``prompt`` about ``image`` (a collage of ``grid`` x ``grid`` tiles, or one image when
        ``grid`` is None)."""
        raise NotImplementedError

    def estimate_usd(self, image: np.ndarray, prompt: str) -> float:
        """What a call is expected to cost before it is made (image and prompt tokens; no answer yet)."""
        height, width = image.shape[:2]
        return self.pricing.usd(image_tokens(width, height, self.detail) + estimate_text_tokens(prompt), 0)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "detail": self.detail,
                "pricing": {"input_per_1k": self.pricing.input_per_1k, "output_per_1k": self.pricing.output_per_1k}}

    def _priced(self, image: np.ndarray, prompt: str, text: str, usage: dict[str, Any] | None = None) -> CallCost:
        height, width = image.shape[:2]
        return call_cost((width, height), self.detail, prompt, text, self.pricing, usage)


class OpenAIChatRecognizer(Recognizer):
    """An OpenAI-compatible chat-completions endpoint (module docstring).

    Args:
        model: model id; None reads ``$OPENAI_MODEL``.
        base_url: the API's base URL (e.g. ``http://localhost:8000/v1`` for vLLM); None reads ``$OPENAI_BASE_URL``,
            else OpenAI's.
        api_key_env: the environment variable holding the key (only its name is recorded). A local server
            (``base_url`` set) may need none: a placeholder is sent then.
        detail: the image detail level (``high`` / ``low``); None reads ``$OPENAI_IMAGE_DETAIL``, else ``high``.
        max_tokens, temperature: request parameters (part of the cache key).
        pricing: ``dict(input_per_1k=..., output_per_1k=...)`` in USD.
        cache_dir: the answer cache (default ``<results root>/cache/collage_prompting``).
        max_retries, backoff_s, max_backoff_s: transient failures are retried ``max_retries`` times, waiting
            ``min(backoff_s * 2**attempt, max_backoff_s)`` seconds (or the server's ``Retry-After``).
        timeout_s: per-request timeout.
    """

    backend = "openai"

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 detail: str | None = None, max_tokens: int = 300, temperature: float = 0.0,
                 pricing: dict[str, float] | None = None, cache_dir: str | Path | None = None,
                 max_retries: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 timeout_s: float = 120.0) -> None:
        super().__init__(detail or os.environ.get("OPENAI_IMAGE_DETAIL") or "high", pricing)
        self.model = model or os.environ.get("OPENAI_MODEL") or ""
        if not self.model:
            raise ValueError("recognizer.model is not set and $OPENAI_MODEL is empty: name the model id "
                             "(e.g. recognizer=dict(type='openai', model='gpt-4o'))")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key_env = str(api_key_env)
        self.max_tokens, self.temperature = int(max_tokens), float(temperature)
        if cache_dir is None:
            from bench.results import results_root

            cache_dir = results_root() / "cache" / "collage_prompting"
        self.cache = ResponseCache(cache_dir)
        self.max_retries, self.backoff_s, self.max_backoff_s = int(max_retries), float(backoff_s), float(max_backoff_s)
        self.timeout_s = float(timeout_s)
        self.sleep: Callable[[float], None] = time.sleep  # tests replace it
        self.requests = 0  # HTTP requests made by this object (retries included)
        self._client: Any = None

    def params(self) -> dict[str, Any]:
        """The request parameters that change an answer (part of the cache key)."""
        return {"detail": self.detail, "max_tokens": self.max_tokens, "temperature": self.temperature}

    def client(self) -> Any:
        if self._client is None:
            import openai

            key = os.environ.get(self.api_key_env)
            if not key:
                if self.base_url is None:
                    raise EndpointError(f"the API key is read from ${self.api_key_env}, which is not set: export it "
                                        "(it is never written to results), or set recognizer.base_url for a local "
                                        "server that needs no key")
                key = "no-key"  # a local server (vLLM, Ollama) accepts any
            self._client = openai.OpenAI(api_key=key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s)
        return self._client

    def recognize(self, image: np.ndarray, prompt: str, grid: int | None, categories: Sequence[str],
                  budget: UsdBudget | None = None) -> Recognition:
        image = to_uint8_hwc(image)
        key = cache_key(self.model, prompt, image, self.params())
        entry = self.cache.get(key)
        if entry is not None:
            text = str(entry["text"])
            return Recognition(text, self._priced(image, prompt, text, entry.get("usage")), cached=True)
        if budget is not None:
            budget.ensure_room(self.estimate_usd(image, prompt))
        text, usage = self._request(image, prompt)
        cost = self._priced(image, prompt, text, usage)
        self.cache.put(key, {"model": self.model, "text": text, "usage": usage, "params": self.params(),
                             "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
                             "image_sha256": image_digest(image), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                            time.gmtime())})
        if budget is not None:
            budget.charge(cost.usd)
        return Recognition(text, cost, cached=False)

    def _request(self, image: np.ndarray, prompt: str) -> tuple[str, dict[str, int] | None]:
        import openai

        url = "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")
        messages = [{"role": "user", "content": [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": url, "detail": self.detail}}]}]
        where = f"model {self.model!r} at {self.base_url or 'api.openai.com'}"
        for attempt in range(self.max_retries + 1):
            self.requests += 1
            try:
                response = self.client().chat.completions.create(
                    model=self.model, messages=messages, max_tokens=self.max_tokens, temperature=self.temperature)
            except openai.APIError as error:
                name = type(error).__name__
                # rate limits, connection failures and timeouts (APITimeoutError is an APIConnectionError), 5xx
                retryable = (openai.RateLimitError, openai.APIConnectionError, openai.InternalServerError)
                if not isinstance(error, retryable):
                    raise EndpointError(f"{where} refused the request ({name}: {error}); check recognizer.model, "
                                        f"recognizer.base_url and ${self.api_key_env}") from error
                if attempt == self.max_retries:
                    raise EndpointError(f"{where} still failing after {self.max_retries + 1} tries ({name}: "
                                        f"{error}); answers so far are cached in {self.cache.dir}: rerun with "
                                        "--resume later") from error
                wait = self._wait(error, attempt)
                log.warning("%s: %s; retrying in %.1f s (%d/%d)", where, name, wait, attempt + 1, self.max_retries)
                self.sleep(wait)
                continue
            choice = response.choices[0] if response.choices else None
            text = (choice.message.content if choice is not None and choice.message is not None else None) or ""
            usage = response.usage
            used = None if usage is None else {"prompt_tokens": int(usage.prompt_tokens),
                                               "completion_tokens": int(usage.completion_tokens)}
            return str(text), used
        raise AssertionError("unreachable")

    def _wait(self, error: Exception, attempt: int) -> float:
        response = getattr(error, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        try:
            return min(float(header), self.max_backoff_s) if header is not None else \
                min(self.backoff_s * 2 ** attempt, self.max_backoff_s)
        except ValueError:
            return min(self.backoff_s * 2 ** attempt, self.max_backoff_s)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": self.model, "base_url": self.base_url or "https://api.openai.com/v1",
                "api_key_env": self.api_key_env, "max_tokens": self.max_tokens, "temperature": self.temperature,
                "cache_dir": str(self.cache.dir), "date": time.strftime("%Y-%m-%d", time.gmtime())}


def tiles_tensor(image: np.ndarray, grid: int | None) -> torch.Tensor:
    """The tiles of a collage (one image when ``grid`` is None) as float [n, 3, H, W] in [0, 1], grid order."""
    tiles = cut_collage(image, grid) if grid is not None else [to_uint8_hwc(image)]
    return torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).float() / 255.0


def indexed_or_single(names: Sequence[str], grid: int | None) -> str:
    """The answer text a local back-end gives: the indexed list for a collage, the bare name for one image."""
    return format_indexed_answer(names) if grid is not None else str(names[0])


class LocalClassifierRecognizer(Recognizer):
    """Each tile classified by a registered classifier (``classifier``: a ``METHODS`` spec whose ``predict`` gives
    ``logits`` over ``categories`` from ``batch["image"]`` in [0, 1]), answered in the prompt's format. Free unless
    ``pricing`` is set."""

    backend = "local_classifier"

    def __init__(self, classifier: dict[str, Any], detail: str = "high",
                 pricing: dict[str, float] | None = None) -> None:
        super().__init__(detail, pricing)
        from bench.registry import METHODS

        self.spec = dict(classifier)
        self.classifier = METHODS.build(dict(classifier))

    def setup(self, device: torch.device) -> None:
        self.classifier.setup(device)

    def recognize(self, image: np.ndarray, prompt: str, grid: int | None, categories: Sequence[str],
                  budget: UsdBudget | None = None) -> Recognition:
        image = to_uint8_hwc(image)
        tiles = tiles_tensor(image, grid)
        with torch.inference_mode():
            logits = self.classifier.predict({"image": tiles, "target": torch.zeros(len(tiles), dtype=torch.long)},
                                             torch.zeros(len(tiles), dtype=torch.long))["logits"]
        if logits.shape[-1] != len(categories):
            raise ValueError(f"recognizer.classifier gives {logits.shape[-1]} classes but the collage has "
                             f"{len(categories)} categories; they must match, in order")
        text = indexed_or_single([categories[int(i)] for i in logits.argmax(-1).tolist()], grid)
        return Recognition(text, self._priced(image, prompt, text))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "classifier": self.spec}


RECOGNIZERS: dict[str, str] = {
    "openai": "bench.methods.collage_prompting.recognizers:OpenAIChatRecognizer",
    "local_classifier": "bench.methods.collage_prompting.recognizers:LocalClassifierRecognizer",
    "collage_reader": "bench.methods.collage_prompting.demo_reader:CollageReaderRecognizer",
}


def build_recognizer(spec: dict[str, Any]) -> Recognizer:
    """A recognizer from ``dict(type=<backend>, **arguments)``; backends import only when chosen."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in RECOGNIZERS:
        raise ValueError(f"recognizer.type must be one of {sorted(RECOGNIZERS)}, got {kind!r}."
                         f"{suggest(str(kind), list(RECOGNIZERS))}")
    module, name = RECOGNIZERS[kind].split(":")
    cls = getattr(importlib.import_module(module), name)
    try:
        return cls(**spec)
    except TypeError as error:
        raise ValueError(f"recognizer {kind!r}: {error}") from error
