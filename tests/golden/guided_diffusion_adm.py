"""Produce tests/test_diffusion_adm.py's GOLDEN: outputs of the OFFICIAL guided-diffusion UNetModel / EncoderUNetModel.

Not part of the suite (it needs the official code): clone openai/guided-diffusion at 22e0df8 and run
``python tests/golden/guided_diffusion_adm.py --official PATH [--dtype float64|float32]``; it prints the GOLDEN dict.

The models get the test's configs, state dict (``helpers.seeded_state_dict``) and inputs (``_inputs``), imported from
the tests so the two cannot drift. For float64 the official code needs three dtype-only edits, applied here as
patches (the official files stay untouched): GroupNorm32 and the attention softmax upcast with ``promote_types``
instead of ``.float()``, the float32 timestep embedding is cast to the time_embed dtype, and ``model.dtype`` is
float64.
"""
from __future__ import annotations

import argparse
import inspect
import sys
import textwrap
from pathlib import Path

import torch

TESTS = Path(__file__).resolve().parents[1]


def _upcast(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def patch_for_float64(nn_module, unet_module, dtype: torch.dtype) -> None:  # noqa: ANN001 - the official modules
    """The three dtype-only edits, as monkeypatches of the imported official modules."""
    base = nn_module.GroupNorm32.__mro__[1]
    nn_module.GroupNorm32.forward = lambda self, x: base.forward(self, _upcast(x)).type(x.dtype)
    for name in ("QKVAttentionLegacy", "QKVAttention"):
        cls = getattr(unet_module, name)
        source = textwrap.dedent(inspect.getsource(cls.forward))
        assert source.count("weight.float()") == 1, name  # the one upcast this edit replaces
        namespace: dict = {}
        exec(source.replace("weight.float()", "_upcast(weight)"), {**vars(unet_module), "_upcast": _upcast}, namespace)
        cls.forward = namespace["forward"]
    embedding = unet_module.timestep_embedding
    unet_module.timestep_embedding = lambda *args, **kwargs: embedding(*args, **kwargs).to(dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="a guided-diffusion checkout at 22e0df8")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    sys.path[:0] = [str(args.official), str(TESTS)]
    from guided_diffusion import nn as official_nn
    from guided_diffusion import unet as official_unet
    from helpers import seeded_state_dict
    from test_diffusion_adm import CLASSIFIERS, UNETS, _inputs

    if dtype == torch.float64:
        patch_for_float64(official_nn, official_unet, dtype)
    golden = {}
    for name, config in {**UNETS, **CLASSIFIERS}.items():
        torch.manual_seed(0)
        cls = official_unet.UNetModel if name in UNETS else official_unet.EncoderUNetModel
        model = cls(**config).to(dtype)
        model.dtype = dtype
        model.load_state_dict(seeded_state_dict(model, dtype), strict=True)
        model.eval()
        x, t, y = _inputs(config, dtype)
        x.requires_grad_(True)
        out = model(x, t, y) if name in UNETS else model(x, t)
        at = [(0, 0, 0, 0), (1, 5, 7, 3), (1, 2, -1, -1)] if name in UNETS else [(0, 0), (1, 3), (1, 9)]
        entry = {"sum": out.sum().item(), "abs": out.abs().sum().item(),
                 "at": {i: out[i].item() for i in at if out.dim() == 2 or i[1] < out.shape[1]}}
        if name not in UNETS:
            torch.log_softmax(out, dim=-1)[torch.arange(2), torch.tensor([1, 7])].sum().backward()
            entry |= {"grad_sum": x.grad.sum().item(), "grad_abs": x.grad.abs().sum().item()}
        golden[name] = entry
    for name, entry in golden.items():
        print(f"{name!r}: {entry},")


if __name__ == "__main__":
    main()
