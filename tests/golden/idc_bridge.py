"""Produce tests/test_idc_bridge.py's GOLDEN_* values: the OFFICIAL hfmei/IDC ``BrownianBridgeModel`` on the test's
tiny U-Net, inputs and seeds. Also prints test_idc_label_images.py's GOLDEN (the official label-image recipe).

Not part of the suite (it needs the official code and einops): clone hfmei/IDC (09e018d) and run
``python tests/golden/idc_bridge.py --official PATH/IDC [--dtype float64|float32]``. The bridge is built as the
official configs build it (num_timesteps 4, linear m_t, grad objective, l1 + cls_loss, skip_sample with sample_step 4,
eta 1, max_var 1, to_normal, condition_key nocond), its U-Net with the test's TINY kwargs and dropout 0, loaded
strictly with the state dict of the test's ``tiny64`` fixture (our ADMUNet, ``helpers.seeded_state_dict``), in eval
mode.

The test's golden values are the float64 ones (the default): a float32 value moves with the CPU's kernels (AVX-512,
AVX2 and the default ATen paths sum in different orders; up to 4e-6 relative here), a float64 one by about 1e-15.
For float64 the U-Net and the inputs (images, the dataset's prototypes) are cast with ``.double()`` and the official
U-Net gets the same three dtype-only edits as in ``guided_diffusion_adm.py`` (its GroupNorm32, attention softmax and
timestep embedding upcast to float32 only); random draws then come in float64 on both sides. The schedule buffers
stay float32 as the official code registers them: the duplicated sampling step's posterior variance is a rounding
error of them (3e-8 in float32, slightly negative in float64, so a float64 schedule samples NaN in the official code
and ours alike), and elementwise float32 arithmetic is the same on every CPU.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
from guided_diffusion_adm import patch_for_float64

TESTS = Path(__file__).resolve().parents[1]


class Params(SimpleNamespace):
    """The attribute access and ``__contains__`` the official code uses on its OmegaConf-style configs."""

    def __contains__(self, key: str) -> bool:
        return key in vars(self)


def official_bridge(official_cls, unet_kwargs: dict) -> torch.nn.Module:  # noqa: ANN001 - the official class
    bb = Params(num_timesteps=4, mt_type="linear", max_var=1.0, eta=1.0, skip_sample=True, sample_type="linear",
                sample_step=4, loss_type="l1", objective="grad",
                UNetParams=Params(**unet_kwargs, dropout=0.0, condition_key="nocond"))
    return official_cls(Params(BB=Params(params=bb), num_classes=10, cls_loss=True, to_normal=True))


def label_image_golden(k: int, size: int = 32) -> dict:
    """The official CustomCIFARDataset recipe (datasets/custom.py); torch.qr is gone in torch 2.x, so its documented
    replacement torch.linalg.qr(A, mode="reduced")."""
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(k, 3 * size * size).T, mode="reduced")
    columns = [q[:, i].view(3, size, size) for i in range(k)]
    images = torch.stack([(c - c.min()) / (c.max() - c.min()) for c in columns])
    at = [(0, 0, 0, 0), (1, 2, 31, 31), (9, 1, 16, 7), (5, 0, 5, 20)] if k == 10 else \
        [(0, 0, 0, 0), (1, 2, 31, 31), (99, 1, 16, 7), (50, 0, 5, 20)]
    return {"sum": images.double().sum().item(), "image_sums": images.double().sum(dim=(1, 2, 3))[:5].tolist(),
            "entries": {i: images[i].item() for i in at}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="the IDC/ folder of a hfmei/IDC checkout")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    sys.path[:0] = [str(args.official), str(TESTS)]
    from model.BrownianBridge.base.modules.diffusionmodules import openaimodel, util
    from model.BrownianBridge.BrownianBridgeModel import BrownianBridgeModel
    from test_idc_bridge import TINY, _inputs01, _prototypes01, _weighted, tiny64


    ours = tiny64.__wrapped__()  # the fixture's function: our bridge with the tiny U-Net
    if dtype == torch.float64:
        patch_for_float64(util, openaimodel, dtype)
    model = official_bridge(BrownianBridgeModel, TINY)
    model.denoise_fn.to(dtype).dtype = dtype  # before loading (float64 weights); the schedule buffers stay float32
    model.denoise_fn.load_state_dict(ours.denoise_fn.state_dict(), strict=True)
    model.eval()

    y01 = _inputs01().to(dtype)
    with torch.no_grad():
        torch.manual_seed(0)
        out = model.p_sample_loop(y01.clone())
        torch.manual_seed(0)
        unclipped = model.p_sample_loop(y01.clone(), clip_denoised=False)
    at = [(0, 0, 0, 0), (0, 1, 3, 4), (1, 2, 7, 7), (1, 0, 5, 2)]
    print("GOLDEN_REVERSE =", {"sum": out.double().sum().item(), "abs_sum": out.double().abs().sum().item(),
                               "weighted_sum": _weighted(out), "entries": {i: out[i].item() for i in at}})
    print("GOLDEN_TRANSLATE_SUM =", out.clone().mul_(0.5).add_(0.5).clamp_(0, 1).double().sum().item())
    print("GOLDEN_NOCLIP_SUM =", unclipped.double().sum().item())
    y01.requires_grad_(True)
    torch.manual_seed(0)
    model.p_sample_loop(y01).pow(2).sum().backward()
    print("GOLDEN_GRAD_SUM =", y01.grad.double().sum().item())

    protos01 = _prototypes01().to(dtype)
    labels = torch.tensor([3, 0, 9, 3])
    torch.manual_seed(7)
    images01 = torch.rand(4, 3, 8, 8).to(dtype)
    torch.manual_seed(11)
    with torch.no_grad():
        loss, recloss, simloss, _ = model(protos01[labels].clone(), images01, SimpleNamespace(prototypes=protos01),
                                          labels)
    print("GOLDEN_LOSSES =", {"loss": loss.item(), "intra": recloss.item(), "inter": simloss.item()})
    print("label images GOLDEN =", {k: label_image_golden(k) for k in (10, 100)})


if __name__ == "__main__":
    main()
