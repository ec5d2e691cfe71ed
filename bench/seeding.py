"""Per-sample seeds that do not depend on batch size, sharding or world size."""
from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def sample_seed(base_seed: int, sample_id: str, repeat: int = 0) -> int:
    """A 63-bit seed from (base seed, sample id, repeat): the same sample gets the same noise on any shard."""
    digest = hashlib.sha256(f"{base_seed}:{sample_id}:{repeat}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def sample_generator(seed: int) -> torch.Generator:
    """A CPU generator for one sample (draw on CPU, then move: identical across devices)."""
    return torch.Generator(device="cpu").manual_seed(seed)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch global RNGs (training and model construction)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
