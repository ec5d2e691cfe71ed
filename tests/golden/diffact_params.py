"""Produce the parameter counts of tests/test_diffact_model.py::test_state_dict_names_and_sizes_are_the_official_ones:
the OFFICIAL DiffAct ``ASDiffusionModel`` built from its ``default_configs.py``.

Not part of the suite (it needs the official code): clone Finspire13/DiffAct (a223e0c) and run
``python tests/golden/diffact_params.py --official PATH``. ``default_configs.py`` writes its JSON configs into
``configs/`` of the working directory when imported, so this runs it inside a temporary folder. The class counts
are those of the MS-TCN release's mapping.txt files (GTEA 11, 50Salads 19, Breakfast 48).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

CLASSES = {"gtea": 11, "50salads": 19, "breakfast": 48}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="a Finspire13/DiffAct checkout")
    args = parser.parse_args()
    sys.path.insert(0, str(args.official.resolve()))
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        import default_configs
        from model import ASDiffusionModel

    for dataset, classes in CLASSES.items():
        params = getattr(default_configs, f"params_{dataset}")
        model = ASDiffusionModel(params["encoder_params"], params["decoder_params"], params["diffusion_params"],
                                 classes, "cpu")
        layers = params["encoder_params"]["num_layers"]
        print(f"({dataset!r}, {layers}, {sum(p.numel() for p in model.parameters()):_}),")


if __name__ == "__main__":
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    main()
