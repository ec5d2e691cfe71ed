"""Per-sample, batch-independent noise for Monte-Carlo calibration: a vectorised SplitMix64 stream per sample.

Noise draw (t, k) of a sample with seed s is a function of (s, t * K + k) only: the (t * K + k)-th output of
SplitMix64 seeded with s (Steele et al. 2014, the generator ``java.util.SplittableRandom`` uses). So a
sample's calibrated output does not depend on batch size, chunking, sharding or world size, and the first
T' < T draws of a T-draw run are the T' draws of a T'-draw run. Everything is int64 tensor arithmetic
(wrapping multiplication), so whole chunks of samples are drawn at once, on CPU or GPU.

The calibrator library draws with ``torch.randn_like``/``torch.rand_like`` from the global generator instead,
so its draws depend on the batch; the distributions are the same.
"""
from __future__ import annotations

import torch

NOISE_KINDS = ("gaussian", "uniform")

_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed int64
_MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_MIX2 = -7723592293110705685  # 0x94D049BB133111EB
_UNIT24 = 1.0 / (1 << 24)
_UNIT23 = 1.0 / (1 << 23)
_SQRT2 = 2.0 ** 0.5


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical (unsigned) right shift of int64 values."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64(seeds: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
    """Output ``counters`` (0-based) of SplitMix64 streams seeded with ``seeds`` (broadcast), as int64 bits."""
    z = seeds + (counters + 1) * _GOLDEN
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def _top_bits(seeds: torch.Tensor, draws: torch.Tensor, bits: int) -> torch.Tensor:
    """The top ``bits`` bits of :func:`splitmix64` outputs, computed in place in two int64 buffers.

    SplitMix64's last step, z ^ (z >>> 31), leaves the top 33 bits unchanged, so it is skipped here.
    """
    z = seeds.reshape(-1, 1) + ((draws + 1) * _GOLDEN).reshape(1, -1)
    shifted = torch.empty_like(z)
    for bits_shifted, multiplier in ((30, _MIX1), (27, _MIX2)):
        torch.bitwise_right_shift(z, bits_shifted, out=shifted)
        shifted.bitwise_and_((1 << (64 - bits_shifted)) - 1)
        z.bitwise_xor_(shifted).mul_(multiplier)
    return z.bitwise_right_shift_(64 - bits).bitwise_and_((1 << bits) - 1)


def unit_noise(seeds: torch.Tensor, start: int, count: int, num_classes: int, kind: str) -> torch.Tensor:
    """Draws ``start .. start + count - 1`` of each sample's stream as float32 [B, count, num_classes].

    ``uniform``: U[0, 1) on a 2^-24 grid (the top 24 bits, as ``torch.rand`` in float32). ``gaussian``: N(0, 1)
    by the inverse normal CDF of the mid-points of a 2^-23 grid (the top 23 bits), so it is finite
    (|x| < 5.3) and symmetric. Keep B * count * num_classes near 2^18 on CPU: the two int64 work buffers then
    stay in cache, which makes drawing several times faster than one big block.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}, got {kind!r}")
    draws = torch.arange(start * num_classes, (start + count) * num_classes, device=seeds.device, dtype=torch.int64)
    seeds = seeds.to(torch.int64)
    if kind == "uniform":
        values = _top_bits(seeds, draws, 24).to(torch.float32).mul_(_UNIT24)
    else:  # Phi^-1((x + 0.5) 2^-23) = sqrt(2) erfinv((2x + 1 - 2^23) 2^-23); every step is exact in float32
        centred = _top_bits(seeds, draws, 23).mul_(2).sub_((1 << 23) - 1).to(torch.float32).mul_(_UNIT23)
        values = torch.erfinv(centred).mul_(_SQRT2)
    return values.reshape(len(seeds), count, num_classes)
