"""Seeds and random states: per-sample seeds that do not depend on batch size, sharding or world size, and the
capture/restore of every RNG a training loop draws from (an exact resume from its last checkpoint)."""
from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from typing import Any

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


# Generators a training loop owns besides the global ones (a loop's numpy Generator, a loader's shuffle generator).
OwnGenerator = torch.Generator | np.random.Generator | random.Random


def _storable(value: Any) -> Any:
    """``value`` with numpy arrays as lists of python ints/floats, so a weights-only ``torch.load`` reads it back."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items()}
    return value


def _generator_state(generator: OwnGenerator) -> Any:
    if isinstance(generator, torch.Generator):
        return generator.get_state()
    if isinstance(generator, np.random.Generator):
        return _storable(generator.bit_generator.state)
    return generator.getstate()


def capture_rng_state(generators: Mapping[str, OwnGenerator] | None = None) -> dict[str, Any]:
    """Every random state a training step may draw from: python ``random``, numpy's global RNG, torch's CPU RNG,
    each CUDA device's RNG (when CUDA is available) and the named ``generators``; what
    :func:`restore_rng_state` puts back, so a resumed training continues the uninterrupted random stream.

    Plain python values and CPU tensors only: a weights-only ``torch.load`` reads them back."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": _storable(np.random.get_state(legacy=False)),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    state["generators"] = {name: _generator_state(gen) for name, gen in (generators or {}).items()}
    return state


def restore_rng_state(state: Mapping[str, Any], generators: Mapping[str, OwnGenerator] | None = None) -> list[str]:
    """Put back what :func:`capture_rng_state` stored (the globals and the named ``generators``, in place); returns
    the names of the states ``state`` does not hold (a file written before they were stored, ``cuda:<i>`` for a
    device that did not exist then), which were left as they are: the caller says so."""
    missing = []
    if "python" in state:
        random.setstate(state["python"])
    else:
        missing.append("python")
    if "numpy" in state:
        np.random.set_state(state["numpy"])
    else:
        missing.append("numpy")
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    else:
        missing.append("torch")
    if torch.cuda.is_available():
        stored = list(state.get("cuda") or [])
        for index in range(torch.cuda.device_count()):
            if index < len(stored):
                torch.cuda.set_rng_state(stored[index], index)
            else:
                missing.append(f"cuda:{index}")
    saved = state.get("generators") or {}
    for name, generator in (generators or {}).items():
        if name not in saved:
            missing.append(name)
        elif isinstance(generator, torch.Generator):
            generator.set_state(saved[name])
        elif isinstance(generator, np.random.Generator):
            generator.bit_generator.state = saved[name]
        else:
            generator.setstate(saved[name])
    return missing


def step_noise(generators: Sequence[torch.Generator], like: torch.Tensor) -> torch.Tensor:
    """One standard-normal draw per sample from its own generator (on CPU), so a sample never depends on its batch."""
    draws = [torch.randn(like.shape[1:], generator=g, dtype=torch.float32) for g in generators]
    return torch.stack(draws).to(device=like.device, dtype=like.dtype)
