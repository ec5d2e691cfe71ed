"""IDC's Brownian bridge: schedule, forward process and losses against direct formulas, and sampling / losses against
golden values produced by the official ``BrownianBridgeModel``."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from torch import nn

from bench.methods.diffusion.adm import ADMUNet
from bench.methods.idc.bridge import BrownianBridge, per_sample_noise, weights_init
from bench.methods.idc.label_images import label_images
from helpers import layer_roundings, rounding_tolerance, seeded_state_dict

BUFFERS = ["m_t", "m_tminus", "variance_t", "variance_tminus", "variance_t_tminus", "posterior_variance_t"]
TINY = dict(image_size=8, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=1,
            attention_resolutions=(2,), channel_mult=(1, 2), num_heads=1, num_head_channels=-1,
            use_scale_shift_norm=True, resblock_updown=True)
CIFAR10 = dict(image_size=32, in_channels=3, model_channels=64, out_channels=3, num_res_blocks=1,
               attention_resolutions=(32, 16, 8), channel_mult=(1, 4), num_heads=8, num_head_channels=32,
               use_scale_shift_norm=True, resblock_updown=True)
CIFAR100 = dict(CIFAR10, channel_mult=(1, 4, 8), num_head_channels=64)


class Fixed(nn.Module):
    """A denoiser that returns a fixed prediction (for hand-computed losses)."""

    def __init__(self, prediction: torch.Tensor) -> None:
        super().__init__()
        self.prediction = prediction

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.prediction


@pytest.fixture(scope="module")
def tiny() -> BrownianBridge:
    """A tiny ADM U-Net, seed 0, then the official weights_init (seed continues), in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = ADMUNet(**TINY)
        unet.apply(weights_init)
    return BrownianBridge(unet).eval()


@pytest.fixture(scope="module")
def tiny64() -> BrownianBridge:
    """The golden tests' bridge: the tiny U-Net in float64 with ``seeded_state_dict`` weights (the same on every CPU,
    unlike the float32 draws of ``tiny``), schedule buffers float32 as the official code registers them, eval mode."""
    with torch.random.fork_rng(devices=[]):
        unet = ADMUNet(**TINY).double()
    unet.load_state_dict(seeded_state_dict(unet, torch.float64), strict=True)
    return BrownianBridge(unet).eval()


def _inputs01() -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        return torch.rand(2, 3, 8, 8)


# ---------------------------------------------------------------------------------------------- schedule


def test_linear_schedule_buffers() -> None:
    bridge = BrownianBridge(nn.Identity(), num_timesteps=4, max_var=0.7)
    m = np.linspace(0.001, 0.999, 4)
    m_prev = np.array([0.0, *m[:-1]])
    var = 2 * (m - m * m) * 0.7
    var_prev = np.array([0.0, *var[:-1]])
    var_t_prev = var - var_prev * (1 - m) ** 2 / (1 - m_prev) ** 2
    expected = {"m_t": m, "m_tminus": m_prev, "variance_t": var, "variance_tminus": var_prev,
                "variance_t_tminus": var_t_prev, "posterior_variance_t": var_t_prev * var_prev / var}
    for name, values in expected.items():
        buffer = getattr(bridge, name)
        assert buffer.dtype == torch.float32
        torch.testing.assert_close(buffer, torch.tensor(values, dtype=torch.float32), rtol=0, atol=1e-7)
    assert [name for name, _ in bridge.named_buffers()] == BUFFERS


def test_sin_schedule() -> None:
    bridge = BrownianBridge(nn.Identity(), num_timesteps=6, mt_type="sin")
    m = 1.0075 ** np.linspace(0, 6, 6)
    m = m / m[-1]
    m[-1] = 0.999
    torch.testing.assert_close(bridge.m_t, torch.tensor(m, dtype=torch.float32), rtol=0, atol=1e-7)
    torch.testing.assert_close(bridge.variance_t, torch.tensor(2 * (m - m * m), dtype=torch.float32),
                               rtol=0, atol=1e-7)


def test_steps() -> None:
    assert BrownianBridge(nn.Identity()).steps == [3, 1, 1, 0]  # the official list, step 1 duplicated
    assert BrownianBridge(nn.Identity(), sample_step=3).steps == [3, 1, 0]
    assert BrownianBridge(nn.Identity(), num_timesteps=10, sample_step=5).steps == [9, 6, 3, 1, 0]
    assert BrownianBridge(nn.Identity(), num_timesteps=4, sample_step=10).steps == [3, 2, 2, 1, 1, 1, 1, 0]
    assert BrownianBridge(nn.Identity(), skip_sample=False).steps == [3, 2, 1, 0]


def test_duplicated_step_is_nearly_the_identity(tiny: BrownianBridge) -> None:
    """The 1 → 1 update: the denoiser output cancels and sigma2 is one float32 rounding error (not 0)."""
    t = torch.tensor([1])
    m, var = tiny.m_t[t], tiny.variance_t[t]
    sigma2 = (var - var * (1.0 - m) ** 2 / (1.0 - m) ** 2) * var / var
    assert 0 <= sigma2.item() < 1e-7
    x_t = torch.randn(2, 3, 8, 8)
    y = torch.rand(2, 3, 8, 8) * 2 - 1
    stepped = tiny._step(x_t, y, 1, True, torch.zeros_like)
    torch.testing.assert_close(stepped, x_t, rtol=0, atol=1e-6)


def test_invalid_configurations() -> None:
    with pytest.raises(ValueError, match="sample_type"):
        BrownianBridge(nn.Identity(), sample_type="cosine")
    with pytest.raises(ValueError, match="sample_step"):
        BrownianBridge(nn.Identity(), sample_step=2)
    for kwargs in ({"mt_type": "cosine"}, {"objective": "x0"}, {"loss_type": "huber"}, {"num_timesteps": 1}):
        with pytest.raises(ValueError):
            BrownianBridge(nn.Identity(), **kwargs)


# ---------------------------------------------------------------------------------------------- forward process


@pytest.mark.parametrize("objective", ["grad", "noise", "ysubx"])
def test_q_sample_and_predict_x0_round_trip(objective: str) -> None:
    bridge = BrownianBridge(nn.Identity(), objective=objective)
    generator = torch.Generator().manual_seed(1)
    x0, y, noise = (torch.randn(4, 3, 5, 5, generator=generator) for _ in range(3))
    t = torch.tensor([0, 1, 2, 3])
    x_t, target = bridge.q_sample(x0, y, t, noise)
    m = torch.tensor(np.linspace(0.001, 0.999, 4))[t].reshape(4, 1, 1, 1)  # float64 reference
    sigma = torch.sqrt(2 * (m - m * m))
    x0, y, noise = x0.double(), y.double(), noise.double()
    torch.testing.assert_close(x_t.double(), (1 - m) * x0 + m * y + sigma * noise, rtol=0, atol=1e-5)
    expected = {"grad": m * (y - x0) + sigma * noise, "noise": noise, "ysubx": y - x0}[objective]
    torch.testing.assert_close(target.double(), expected, rtol=0, atol=1e-5)
    # "noise" divides by 1 - m_3 = 0.001 at the last step, amplifying float32 rounding
    tolerance = 1e-3 if objective == "noise" else 1e-5  # measured 1.1e-4 and 3e-7
    torch.testing.assert_close(bridge.predict_x0(x_t, y.float(), t, target).double(), x0, rtol=0, atol=tolerance)


def test_label_objective() -> None:
    bridge = BrownianBridge(nn.Identity())
    generator = torch.Generator().manual_seed(2)
    x0, y, noise, label = (torch.randn(2, 3, 4, 4, generator=generator) for _ in range(4))
    m = bridge.m_t.double()
    sigma = bridge.variance_t.double().sqrt()
    for step in range(4):
        t = torch.full((2,), step)
        m_prev = 0.0 if step == 0 else m[step - 1]  # m_{t-1} = 0 at t = 0
        for lab in (label, label[0]):  # per-sample labels, or one [C, H, W] label broadcast over the batch
            expected = (m_prev * (lab.double() - x0.double()) + m[step] * (y.double() - lab.double())
                        + sigma[step] * noise.double())
            got = bridge.label_objective(x0, lab, y, t, noise)
            torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-6)
        # with the true target as the label it is the "grad" objective itself, bit for bit
        assert torch.equal(bridge.label_objective(x0, x0, y, t, noise), bridge.q_sample(x0, y, t, noise)[1])


def test_ranges() -> None:
    images = torch.tensor([-0.1, 0.0, 0.25, 1.0, 1.2])
    torch.testing.assert_close(BrownianBridge.to_model_range(images), torch.tensor([-1.0, -1.0, -0.5, 1.0, 1.0]))
    x = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0])
    torch.testing.assert_close(BrownianBridge.to_image_range(x), torch.tensor([0.0, 0.0, 0.5, 0.75, 1.0, 1.0]))


# ---------------------------------------------------------------------------------------------- losses


def _hand_losses(x0: torch.Tensor, y: torch.Tensor, labels: list[int], protos01: torch.Tensor, t: list[int],
                 noise: torch.Tensor, prediction: torch.Tensor,
                 alpha: float = 0.2) -> tuple[float, float, list[int]]:
    """(intra, inter, penalised samples) with explicit loops in float64, from the paper/official description."""
    m = np.linspace(0.001, 0.999, 4)
    var = 2 * (m - m * m)
    # Mapped in float32 like x0, so the true label's objective equals the true objective exactly (the official
    # equality test relies on that; a float64 mapping would differ from x0 in the last bits and break it).
    protos = [((p - 0.5) * 2).clamp(-1, 1).double() for p in protos01]
    intra_terms, penalties = [], []
    for i in range(x0.shape[0]):
        step = t[i]
        m_prev = 0.0 if step == 0 else m[step - 1]
        xi, yi, ni, pi = x0[i].double(), y[i].double(), noise[i].double(), prediction[i].double()
        target = m[step] * (yi - xi) + np.sqrt(var[step]) * ni
        true_distance = (target - pi).abs().mean().item()
        intra_terms.append((target - pi).abs().mean().item())
        distances = []
        for proto in protos:
            objective = m_prev * (proto - xi) + m[step] * (yi - proto) + np.sqrt(var[step]) * ni
            distances.append((objective - pi).abs().mean().item())
        if true_distance == min(distances):
            penalties.append(0.0)
        else:
            penalties.append(min(d for j, d in enumerate(distances) if j != labels[i]))
    penalised = [i for i, p in enumerate(penalties) if p > 0]
    return sum(intra_terms) / len(intra_terms), -alpha * sum(penalties) / len(penalties), penalised


def test_losses_against_hand_computation() -> None:
    protos01 = label_images(5, image_size=4)
    generator = torch.Generator().manual_seed(3)
    labels = [2, 4, 4, 0, 1, 3]
    t = [0, 1, 2, 3, 3, 1]
    x0 = BrownianBridge.to_model_range(protos01[labels])
    y = torch.rand(6, 3, 4, 4, generator=generator) * 2 - 1
    noise = torch.randn(6, 3, 4, 4, generator=generator)
    probe = BrownianBridge(nn.Identity())
    t_tensor = torch.tensor(t)
    target = probe.q_sample(x0, y, t_tensor, noise)[1]
    # samples 0, 2: exactly the true objective (distance 0 == min); 4: near it; 1, 3, 5: near a wrong label's one
    prediction = target.clone()
    for i, wrong in ((1, 0), (3, 2), (5, 4)):
        prediction[i] = probe.label_objective(x0[i:i + 1], BrownianBridge.to_model_range(protos01[wrong]),
                                              y[i:i + 1], t_tensor[i:i + 1], noise[i:i + 1])[0]
    prediction[[1, 3, 4, 5]] += 0.05 * torch.randn(4, 3, 4, 4, generator=generator)

    intra, inter, penalised = _hand_losses(x0, y, labels, protos01, t, noise, prediction)
    assert penalised == [1, 3, 5]  # both branches of the inter-class term are exercised
    bridge = BrownianBridge(Fixed(prediction))
    out = bridge.losses(x0, y, torch.tensor(labels), protos01, t=t_tensor, noise=noise)
    assert set(out) == {"loss", "intra", "inter"}
    assert out["intra"].item() == pytest.approx(intra, abs=1e-6)
    assert out["inter"].item() == pytest.approx(inter, abs=1e-6)
    assert out["loss"].item() == pytest.approx(intra + inter, abs=1e-6)

    no_inter = BrownianBridge(Fixed(prediction), inter_class_loss=False)
    out = no_inter.losses(x0, y, torch.tensor(labels), protos01, t=t_tensor, noise=noise)
    assert out["loss"].item() == pytest.approx(intra, abs=1e-6)
    assert out["inter"].item() == pytest.approx(inter, abs=1e-6)  # still reported, as the official simloss

    l2 = BrownianBridge(Fixed(prediction), loss_type="l2")
    out = l2.losses(x0, y, torch.tensor(labels), protos01, t=t_tensor, noise=noise)
    assert out["intra"].item() == pytest.approx(((target - prediction) ** 2).mean().item(), abs=1e-6)


def test_losses_default_draws_order(tiny: BrownianBridge) -> None:
    """Without t / noise, t = randint(0, T) is drawn first, then noise = randn_like(x0) (official order)."""
    protos01 = label_images(10, image_size=8)
    labels = torch.tensor([3, 0])
    x0 = tiny.to_model_range(protos01[labels])
    y = tiny.to_model_range(_inputs01())
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(5)
        drawn = tiny.losses(x0, y, labels, protos01)
        torch.manual_seed(5)
        t = torch.randint(0, 4, (2,))
        noise = torch.randn_like(x0)
        given = tiny.losses(x0, y, labels, protos01, t=t, noise=noise)
    for key in ("loss", "intra", "inter"):
        assert torch.equal(drawn[key], given[key])


# Golden values from the OFFICIAL hfmei/IDC BrownianBridgeModel (tests/golden/idc_bridge.py prints them): built with
# num_timesteps 4, linear schedule, grad objective, skip_sample / sample_step 4, eta 1, max_var 1, to_normal,
# cls_loss, its U-Net with the TINY kwargs (dropout 0), loaded with the `tiny64` fixture's state dict (strict), in
# float64 (U-Net and inputs; schedule buffers float32 as registered) and in eval mode. Our implementation matched it bit
# for bit (max |Δ| = 0) on the CPU in float64, and in float32 with the `tiny` weights. The golden values are float64:
# float32 ones move
# with the CPU: its draws (normal_, uniform_(a, b)) and its oneDNN convolutions differ by an ulp between ATen/oneDNN
# capabilities, and 4 U-Net calls grow that to 4e-6 relative (tests/golden/README.md).
# reverse: torch.manual_seed(123); y01 = torch.rand(2, 3, 8, 8).double(); torch.manual_seed(0); out = p_sample_loop(y01)
GOLDEN_REVERSE = {"sum": -1.00238749047326, "abs_sum": 252.2213967223522, "weighted_sum": -4.456265647664194,
                  "entries": {(0, 0, 0, 0): -0.5688336939786841, (0, 1, 3, 4): 0.639038285392948,
                              (1, 2, 7, 7): 0.9519109703049475, (1, 0, 5, 2): -1.0}}
GOLDEN_TRANSLATE_SUM = 191.49880625476337  # out.mul_(0.5).add_(0.5).clamp_(0, 1).sum(), as SDE_Adv_Model
GOLDEN_NOCLIP_SUM = 16.196139020444  # p_sample_loop(y01, clip_denoised=False).sum()
GOLDEN_GRAD_SUM = -76.15249220471168  # d/dy01 of p_sample_loop(y01).pow(2).sum(), summed
# losses: protos = _prototypes01() (not label_images: its float32 randn moves by an ulp without AVX2), labels
# [3, 0, 9, 3], torch.manual_seed(7); img01 = torch.rand(4, 3, 8, 8).double(); torch.manual_seed(11);
# model(protos[labels], img01, dataset, labels)
GOLDEN_LOSSES = {"loss": 0.5347134631247259, "intra": 0.6169494095408603, "inter": -0.08223594641613444}
# Tolerances: bit-equal here, so only another kernel's summation order is allowed for: one float64 rounding per conv,
# linear and norm layer of each U-Net call that feeds the value (4 reverse steps, 1 for the losses), of the value's
# magnitude (|x| <= 1 for an entry, the sum of |x| for a sum; the losses are means of |x| below 1). Measured across
# ATen capabilities default / avx2 / avx512 and oneDNN AVX2: at most 57 of the 288 allowed roundings for an entry,
# 2.3 for a sum, 0.1 of 72 for a loss.
STEPS = 4


def _roundings(bridge: BrownianBridge, calls: int) -> int:
    return calls * layer_roundings(bridge.denoise_fn)


def _prototypes01() -> torch.Tensor:
    """Ten 3x8x8 prototypes in [0, 1), float64 and the same on every CPU."""
    return torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def _weighted(x: torch.Tensor) -> float:
    weights = torch.arange(x.numel(), dtype=torch.float64).reshape(x.shape) / x.numel()
    return (x.double() * weights).sum().item()


def test_reverse_matches_official_golden(tiny64: BrownianBridge) -> None:
    y01 = _inputs01().double()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        out = tiny64.reverse(tiny64.to_model_range(y01))
        torch.manual_seed(0)
        translated = tiny64.translate(y01)
        torch.manual_seed(0)
        unclipped = tiny64.reverse(tiny64.to_model_range(y01), clip_denoised=False)
    assert out.dtype == torch.float64
    roundings = _roundings(tiny64, STEPS)
    entry_tol = rounding_tolerance(torch.float64, 1.0, roundings)  # 288 roundings: 6.4e-14
    sum_tol = rounding_tolerance(torch.float64, GOLDEN_REVERSE["abs_sum"], roundings)  # 1.6e-11
    assert out.sum().item() == pytest.approx(GOLDEN_REVERSE["sum"], abs=sum_tol)
    assert out.abs().sum().item() == pytest.approx(GOLDEN_REVERSE["abs_sum"], abs=sum_tol)
    assert _weighted(out) == pytest.approx(GOLDEN_REVERSE["weighted_sum"], abs=sum_tol)  # weights in [0, 1)
    for index, value in GOLDEN_REVERSE["entries"].items():
        assert out[index].item() == pytest.approx(value, abs=entry_tol)
    assert translated.sum().item() == pytest.approx(GOLDEN_TRANSLATE_SUM, abs=sum_tol / 2)  # x/2 + 1/2
    # same kernels, same process: translate is reverse followed by the elementwise range map
    torch.testing.assert_close(translated, (out * 0.5 + 0.5).clamp(0, 1), rtol=0, atol=0)
    unclipped_tol = rounding_tolerance(torch.float64, unclipped.abs().sum().item(), roundings)
    assert unclipped.sum().item() == pytest.approx(GOLDEN_NOCLIP_SUM, abs=unclipped_tol)


def test_gradient_through_translate_matches_official_golden(tiny64: BrownianBridge) -> None:
    y01 = _inputs01().double().requires_grad_(True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tiny64.reverse(tiny64.to_model_range(y01)).pow(2).sum().backward()
    assert y01.grad is not None and torch.isfinite(y01.grad).all()
    # backward doubles the chain of dependent U-Net calls: 2 x 4 calls' roundings of the sum of |grad|
    grad_tol = rounding_tolerance(torch.float64, y01.grad.abs().sum().item(), 2 * _roundings(tiny64, STEPS))
    assert y01.grad.sum().item() == pytest.approx(GOLDEN_GRAD_SUM, abs=grad_tol)

    y01.grad = None
    tiny64.translate(y01, noise=torch.zeros_like).sum().backward()
    assert y01.grad.abs().sum() > 0


def test_losses_match_official_golden(tiny64: BrownianBridge) -> None:
    protos01 = _prototypes01()
    labels = torch.tensor([3, 0, 9, 3])
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(7)
        images01 = torch.rand(4, 3, 8, 8).double()
        torch.manual_seed(11)
        out = tiny64.losses(tiny64.to_model_range(protos01[labels]), tiny64.to_model_range(images01), labels, protos01)
    loss_tol = rounding_tolerance(torch.float64, 1.0, _roundings(tiny64, 1))
    for key, value in GOLDEN_LOSSES.items():
        assert out[key].item() == pytest.approx(value, abs=loss_tol)


def test_inference_mode(tiny: BrownianBridge) -> None:
    y01 = _inputs01()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        with torch.no_grad():
            expected = tiny.translate(y01)
        torch.manual_seed(0)
        with torch.inference_mode():
            got = tiny.translate(y01)
    assert torch.equal(got, expected)


def test_per_sample_noise_makes_samples_batch_independent(tiny: BrownianBridge) -> None:
    y01 = _inputs01()
    other = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(9))

    def run(batch: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        with torch.no_grad():
            return tiny.translate(batch, noise=per_sample_noise(generators))

    first = run(y01, [10, 11])
    second = run(torch.cat([y01[:1], other]), [10, 12])
    torch.testing.assert_close(first[0], second[0], rtol=0, atol=1e-6)
    assert not torch.allclose(first[1], second[1])
    alone = run(y01[1:], [11])
    torch.testing.assert_close(first[1], alone[0], rtol=0, atol=1e-5)  # batch size 1 vs 2: other conv kernels
    with pytest.raises(ValueError, match="generators"):
        run(y01, [10])


# ---------------------------------------------------------------------------------------------- layout / init


def _key_digest(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


# sha256 of "\n".join(official BrownianBridgeModel.state_dict().keys()) and its parameter count, per U-Net config
# (official model instantiated in a scratch script; CIFAR configs from configs/Template-IDC-cifar{10,100}.yaml).
OFFICIAL_LAYOUT = {
    "tiny": (TINY, 150, "b14b256d86d3bab6fca8392202c639ef124671a190924d53a158f077a1209825", 827491),
    "cifar10": (CIFAR10, 132, "1119ff1cb13fb483cbdae3db524721308c3cf7fb01f95507b2e9f061fe85f2bb", 9393475),
    "cifar100": (CIFAR100, 188, "80925d33bbcf77a7e57ea48dfea4a484847db505710e71d9b4e1b34387303988", 42843971),
}


@pytest.mark.parametrize("config", list(OFFICIAL_LAYOUT))
def test_state_dict_matches_official_layout(config: str) -> None:
    kwargs, count, digest, parameters = OFFICIAL_LAYOUT[config]
    with torch.random.fork_rng(devices=[]):
        unet = ADMUNet(**kwargs)
    bridge = BrownianBridge(unet)
    keys = list(bridge.state_dict())
    assert keys == BUFFERS + [f"denoise_fn.{key}" for key in unet.state_dict()]
    assert len(keys) == count and _key_digest(keys) == digest
    assert sum(p.numel() for p in bridge.parameters()) == parameters


def test_weights_init(tiny: BrownianBridge) -> None:
    unet = tiny.denoise_fn
    assert unet.out[2].weight.abs().max() > 0  # the zero-initialised output conv is overwritten
    assert unet.input_blocks[1][0].out_layers[3].weight.abs().max() > 0
    assert unet.middle_block[1].proj_out.weight.abs().max() == 0  # Conv1d: untouched, as in the official
    weights = torch.cat([m.weight.flatten() for m in unet.modules() if isinstance(m, (nn.Conv2d, nn.Linear))])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    norm = nn.BatchNorm2d(64)
    norm.bias.data.fill_(3.0)
    with torch.random.fork_rng(devices=[]):
        norm.apply(weights_init)
    assert norm.bias.abs().max() == 0 and norm.weight.mean().item() == pytest.approx(1.0, abs=0.01)
