"""What a recognition call costs: image tokens by OpenAI's published vision scheme, text tokens from the response's
``usage`` (or an estimate, flagged), dollars from per-1K-token prices, and the v1 cost-efficiency score.

The sheet (``collage_prompting.md`` §6) names this scheme as the background of the paper's accounting (UNVERIFIED as
the paper's own): high detail scales the image to fit 2048 x 2048, then so that its shortest side is 768 px, and
charges 85 tokens plus 170 per 512-px tile; low detail charges a flat 85.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DETAILS = ("high", "low")
BASE_TOKENS = 85
TILE_TOKENS = 170
TILE_SIZE = 512
FIT_SIDE = 2048
SHORT_SIDE = 768
CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English text; used only when a response carries no usage


def check_detail(detail: str) -> str:
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {DETAILS} (the vision API's detail level), got {detail!r}")
    return detail


def scaled_size(width: int, height: int) -> tuple[int, int]:
    """The size high detail bills: scaled down to fit 2048 x 2048, then down so the shortest side is 768 (never
    up: a small image is billed at its own size; sides are floored to whole pixels)."""
    if width < 1 or height < 1:
        raise ValueError(f"an image must have positive sides, got {width}x{height}")
    w, h = float(width), float(height)
    if max(w, h) > FIT_SIDE:
        scale = FIT_SIDE / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > SHORT_SIDE:
        scale = SHORT_SIDE / min(w, h)
        w, h = w * scale, h * scale
    return int(math.floor(w + 1e-9)), int(math.floor(h + 1e-9))


def image_tokens(width: int, height: int, detail: str = "high") -> int:
    """Input tokens one image costs: 85 at low detail; at high, 85 + 170 per 512-px tile of :func:`scaled_size`."""
    if check_detail(detail) == "low":
        return BASE_TOKENS
    w, h = scaled_size(width, height)
    return BASE_TOKENS + TILE_TOKENS * math.ceil(w / TILE_SIZE) * math.ceil(h / TILE_SIZE)


def estimate_text_tokens(text: str) -> int:
    """A text's tokens when the provider reported none: ceil(characters / 4)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Pricing:
    """US dollars per 1,000 input (prompt, images included) and output (completion) tokens."""

    input_per_1k: float = 0.0
    output_per_1k: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input_per_1k", "output_per_1k"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"pricing.{name} must be a non-negative number of USD per 1K tokens, got {value!r}")

    @classmethod
    def from_config(cls, spec: dict[str, Any] | Pricing | None) -> Pricing:
        if spec is None:
            return cls()
        if isinstance(spec, Pricing):
            return spec
        unknown = set(spec) - {"input_per_1k", "output_per_1k"}
        if unknown:
            raise ValueError(f"pricing keys are input_per_1k and output_per_1k (USD per 1K tokens), got "
                             f"unknown {sorted(unknown)}")
        return cls(**{k: float(v) for k, v in spec.items()})

    def usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens / 1000.0 * self.input_per_1k + completion_tokens / 1000.0 * self.output_per_1k


@dataclass(frozen=True)
class CallCost:
    """One call's tokens and dollars. ``prompt_tokens`` includes the image tokens; ``usage_reported`` is False when
    the text tokens are the :func:`estimate_text_tokens` estimate (no ``usage`` in the response)."""

    image_tokens: int
    prompt_tokens: int
    completion_tokens: int
    usd: float
    usage_reported: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def call_cost(image_size: tuple[int, int], detail: str, prompt: str, answer: str, pricing: Pricing,
              usage: dict[str, Any] | None = None) -> CallCost:
    """The cost of one call with one image of ``image_size`` (width, height): the provider's ``usage`` counts when
    present (``prompt_tokens`` / ``completion_tokens``), else image tokens + estimated prompt text, and estimated
    answer text."""
    tokens = image_tokens(image_size[0], image_size[1], detail)
    prompt_used = (usage or {}).get("prompt_tokens")
    completion_used = (usage or {}).get("completion_tokens")
    reported = isinstance(prompt_used, int) and isinstance(completion_used, int)
    if reported:
        prompt_tokens, completion_tokens = int(prompt_used), int(completion_used)  # type: ignore[arg-type]
    else:
        prompt_tokens = tokens + estimate_text_tokens(prompt)
        completion_tokens = estimate_text_tokens(answer)
    return CallCost(tokens, prompt_tokens, completion_tokens, pricing.usd(prompt_tokens, completion_tokens), reported)


def cost_efficiency(accuracy: float, usd_per_image: float, standard_accuracy: float,
                    standard_usd_per_image: float) -> float:
    """The v1 "cost-efficiency score" of collage prompting against the standard prompt, as defined here (the sheet
    gives no formula): accuracy per dollar relative to the standard prompt's,
    ``(accuracy / usd_per_image) / (standard_accuracy / standard_usd_per_image)``. Above 1: more correct answers per
    dollar than one call per image. NaN when a cost or the standard accuracy is zero."""
    if usd_per_image <= 0 or standard_usd_per_image <= 0 or standard_accuracy <= 0:
        return math.nan
    return (accuracy / usd_per_image) / (standard_accuracy / standard_usd_per_image)
