import random

import numpy as np
import torch

from bench.seeding import capture_rng_state, restore_rng_state, sample_generator, sample_seed, seed_everything


def test_sample_seed_is_a_fixed_function_of_base_id_and_repeat():
    assert sample_seed(0, "digits-0000") == sample_seed(0, "digits-0000")
    assert len({sample_seed(0, "a"), sample_seed(1, "a"), sample_seed(0, "b"), sample_seed(0, "a", repeat=1)}) == 4
    assert 0 <= sample_seed(123, "x") < 2**63


def test_sample_seed_golden_value():
    # sha256("0:digits-0000:0")[:8] little-endian, top bit cleared; changing it changes every stored seed
    assert sample_seed(0, "digits-0000") == 4140495812283832032


def test_sample_generator_draws_do_not_depend_on_other_samples():
    a = torch.randn(3, generator=sample_generator(sample_seed(0, "a")))
    torch.randn(100, generator=sample_generator(sample_seed(0, "b")))
    again = torch.randn(3, generator=sample_generator(sample_seed(0, "a")))
    assert torch.equal(a, again)


def _draws(generators):
    return (random.random(), float(np.random.rand()), float(torch.rand(1)),
            float(torch.rand(1, generator=generators["shuffle"])), float(generators["loop"].random()),
            generators["python"].random())


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    seed_everything(3)
    generators = {"shuffle": torch.Generator().manual_seed(1), "loop": np.random.default_rng(2),
                  "python": random.Random(4)}
    _draws(generators)  # states away from their seeds
    torch.save({"rng": capture_rng_state(generators)}, tmp_path / "latest.pth")
    expected = _draws(generators)
    seed_everything(99)
    fresh = {"shuffle": torch.Generator().manual_seed(7), "loop": np.random.default_rng(8), "python": random.Random(9)}
    stored = torch.load(tmp_path / "latest.pth", weights_only=True)["rng"]
    assert restore_rng_state(stored, fresh) == []
    assert _draws(fresh) == expected


def test_restore_reports_the_states_a_file_lacks_and_leaves_them_alone():
    seed_everything(5)
    before = torch.get_rng_state()
    missing = restore_rng_state({"torch": before, "generators": {}}, {"loop": np.random.default_rng(0)})
    assert missing == ["python", "numpy", *[f"cuda:{i}" for i in range(torch.cuda.device_count())], "loop"]
    seed_everything(5)
    python_draw = random.random()
    seed_everything(5)
    restore_rng_state({"torch": before})
    assert random.random() == python_draw  # left as it was
