import pytest
import torch

from bench.methods.consistency_calibration.noise import splitmix64, unit_noise

MASK = (1 << 64) - 1


def splitmix64_reference(seed: int, n: int) -> list[int]:
    """SplitMix64 as published (Steele et al. 2014; Vigna's splitmix64.c), in Python integers."""
    state, out = seed, []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        out.append(z ^ (z >> 31))
    return out


@pytest.mark.parametrize("seed", [0, 1, 4140495812283832032, (1 << 63) - 1])
def test_vectorised_stream_equals_the_published_generator(seed):
    ours = splitmix64(torch.tensor([seed]), torch.arange(64)).flatten().tolist()
    assert [x & MASK for x in ours] == splitmix64_reference(seed, 64)
    if seed == 0:
        assert ours[0] & MASK == 0xE220A8397B1DCDAF  # the well-known first output for seed 0


def test_draws_depend_only_on_the_sample_seed_and_the_draw_index():
    seeds = torch.tensor([11, 22, 33])
    whole = unit_noise(seeds, 0, 50, 7, "gaussian")
    assert torch.equal(unit_noise(seeds[1:2], 0, 50, 7, "gaussian")[0], whole[1])  # batch-independent
    assert torch.equal(unit_noise(seeds, 20, 30, 7, "gaussian"), whole[:, 20:])  # draws 20.. of the same stream
    assert not torch.equal(whole[0], whole[1])


def test_noise_distributions():
    seeds = torch.arange(40)
    gauss = unit_noise(seeds, 0, 5000, 10, "gaussian")
    uniform = unit_noise(seeds, 0, 5000, 10, "uniform")
    assert gauss.dtype == uniform.dtype == torch.float32
    assert abs(float(gauss.mean())) < 0.003 and abs(float(gauss.std()) - 1) < 0.003  # 2M draws: se 7e-4
    assert float(gauss.abs().max()) < 5.33  # finite: inverse CDF of mid-points of a 2^-23 grid
    assert float(uniform.min()) >= 0.0 and float(uniform.max()) < 1.0
    assert abs(float(uniform.mean()) - 0.5) < 0.002
    with pytest.raises(ValueError, match="noise must be one of"):
        unit_noise(seeds, 0, 1, 1, "laplace")
