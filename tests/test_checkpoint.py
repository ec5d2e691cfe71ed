import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bench.checkpoint import CheckpointError, load_checkpoint_file, load_weights


def mmengine_style_checkpoint(path: Path, model: nn.Module) -> Path:
    """What mmengine's Runner saves: weights plus meta with numpy values and a message hub of HistoryBuffers."""
    from mmengine.logging.history_buffer import HistoryBuffer

    buffer = HistoryBuffer()
    buffer.update(0.5)
    torch.save({"meta": {"epoch": np.int64(3), "seed": np.array([1, 2]), "dtype": np.dtype("float32"),
                         "message_hub": {"log_scalars": {"train/loss": buffer}}},
                "state_dict": model.state_dict(), "optimizer": {}}, path)
    return path


def test_mmengine_full_checkpoint_loads_with_weights_only(tmp_path: Path):
    model = nn.Linear(3, 2)
    path = mmengine_style_checkpoint(tmp_path / "epoch_3.pth", model)
    with pytest.raises(pickle.UnpicklingError):  # what torch's default does with such a file
        torch.load(path, weights_only=True)
    checkpoint = load_checkpoint_file(path)
    assert int(checkpoint["meta"]["epoch"]) == 3
    fresh = nn.Linear(3, 2)
    facts = load_weights(fresh, path)
    assert torch.equal(fresh.weight, model.weight)
    assert facts["missing_keys"] == [] and len(facts["sha256"]) == 64


class Evil:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


TRUSTED_FIX = ("that weights-only loading refuses on purpose (unpickling arbitrary objects can run code). If the "
               "file comes from a source you trust, re-save its tensors alone (torch.load(path, weights_only=False), "
               "then torch.save of the state dict) or add the type to the reviewed allowlist "
               "bench.checkpoint.safe_globals(); otherwise do not load it")


def test_arbitrary_objects_are_still_refused(tmp_path: Path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint_file(path)
    assert str(caught.value) == f"{path} holds a reference to print, a global {TRUSTED_FIX}"
    assert isinstance(caught.value.__cause__, pickle.UnpicklingError)
    assert "arbitrary code ran" not in capsys.readouterr().out


def test_a_type_outside_the_allowlist_is_named(tmp_path: Path):
    import argparse

    path = tmp_path / "fairseq_style.pt"  # old training scripts pickled their argparse arguments
    torch.save({"args": argparse.Namespace(lr=0.1), "model": {}}, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint_file(path)
    assert str(caught.value) == f"{path} holds a reference to argparse.Namespace, a global {TRUSTED_FIX}"


REFETCH = ("expected a file written by torch.save. Re-download or re-copy it, or check that the path names the "
           "checkpoint you meant.")


@pytest.mark.parametrize("kind, found", [
    ("truncated", "truncated or corrupt: it ends early or its archive index is damaged"),
    ("legacy_truncated", "truncated or corrupt: it ends early or its archive index is damaged"),
    ("text", "a text file"), ("jpeg", "a JPEG image"), ("zip", "a zip archive that torch.save did not write"),
    ("pickle", "bytes that do not unpickle as one: Unsupported operand 149"),
])
def test_a_file_that_is_not_a_checkpoint_is_named_with_the_fix(tmp_path: Path, kind: str, found: str):
    import zipfile

    path = tmp_path / f"{kind}.pth"
    if kind in ("truncated", "legacy_truncated"):
        torch.save({"state_dict": {"w": torch.ones(500)}}, path, _use_new_zipfile_serialization=kind == "truncated")
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])  # a killed copy or download
    elif kind == "text":
        path.write_text("version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer instead of the weights
    elif kind == "jpeg":
        path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(60))
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("weights.txt", "not torch")
    else:
        path.write_bytes(pickle.dumps({"w": [1.0]}))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint_file(path)
    assert str(caught.value) == f"{path} is not a readable torch checkpoint ({found}; {path.stat().st_size} bytes); " \
                                f"{REFETCH}"


def test_an_empty_file_is_named_with_the_fix(tmp_path: Path):
    path = tmp_path / "empty.pth"
    path.touch()
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint_file(path)
    assert str(caught.value) == (f"{path} is empty (0 bytes); expected a torch checkpoint (torch.save). Re-download "
                                 "or re-copy it, or check that the path names the checkpoint you meant.")


def test_mismatched_keys_are_listed(tmp_path: Path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"weight": torch.zeros(2, 3), "extra.bias": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): bias[\s\S]*unexpected keys \(1\): extra.bias"):
        load_weights(nn.Linear(3, 2), path)


def test_prefix_stripping_and_missing_file(tmp_path: Path):
    model = nn.Linear(3, 2)
    path = tmp_path / "ddp.pth"
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    load_weights(nn.Linear(3, 2), path, prefix_to_strip="module.")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint_file(tmp_path / "nope.pth")


def test_getattr_stand_in_serves_only_history_buffer_statistics(tmp_path: Path):
    from mmengine.logging.history_buffer import HistoryBuffer

    class Sneaky:  # getattr on an allowlisted class, but not one of its statistic methods
        def __reduce__(self):
            return (getattr, (HistoryBuffer, "__init__"))

    path = tmp_path / "sneaky.pth"
    torch.save({"x": Sneaky()}, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint_file(path)
    assert str(caught.value) == (f"{path} holds data (getattr(HistoryBuffer, '__init__') is not allowed in a "
                                 f"checkpoint) {TRUSTED_FIX}")


def test_key_preference_picks_ema_weights_and_records_the_key(tmp_path: Path):
    raw, ema = nn.Linear(3, 2), nn.Linear(3, 2)
    torch.save({"model": raw.state_dict(), "model_ema": ema.state_dict(), "epoch": 300}, tmp_path / "ckpt.pth")
    model = nn.Linear(3, 2)
    facts = load_weights(model, tmp_path / "ckpt.pth", keys=("model_ema", "model"))
    assert facts["state_dict_key"] == "model_ema" and torch.equal(model.weight, ema.weight)
    facts = load_weights(model, tmp_path / "ckpt.pth")  # default order: "model" before "model_ema"
    assert facts["state_dict_key"] == "model" and torch.equal(model.weight, raw.weight)
    torch.save(raw.state_dict(), tmp_path / "plain.pth")
    assert load_weights(model, tmp_path / "plain.pth")["state_dict_key"] is None


def test_swin_style_checkpoint_with_a_yacs_config_loads_without_yacs(tmp_path: Path, monkeypatch):
    """VSSD's save_checkpoint_ema stores the yacs training config next to model / model_ema."""
    import sys
    import types

    yacs, config = types.ModuleType("yacs"), types.ModuleType("yacs.config")

    class CfgNode(dict):  # the pickled shape of yacs' CfgNode: a dict subclass with flags in __dict__
        def __init__(self, init: dict) -> None:
            super().__init__(init)
            self.__dict__.update({"__immutable__": True, "__deprecated_keys__": set(), "__new_allowed__": False})

    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    config.CfgNode, yacs.config = CfgNode, config
    monkeypatch.setitem(sys.modules, "yacs", yacs)
    monkeypatch.setitem(sys.modules, "yacs.config", config)
    model = nn.Linear(3, 2)
    cfg = CfgNode({"MODEL": CfgNode({"NAME": "vssd_tiny", "DEPTHS": [2, 4, 8, 4]}), "OUTPUT": "out"})
    torch.save({"model": model.state_dict(), "config": cfg, "epoch": 299, "max_accuracy": 83.6}, tmp_path / "v.pth")
    monkeypatch.delitem(sys.modules, "yacs.config")  # loading must not need yacs
    monkeypatch.delitem(sys.modules, "yacs")
    checkpoint = load_checkpoint_file(tmp_path / "v.pth")
    assert checkpoint["config"]["MODEL"]["DEPTHS"] == [2, 4, 8, 4] and checkpoint["epoch"] == 299
    assert load_weights(nn.Linear(3, 2), tmp_path / "v.pth")["state_dict_key"] == "model"


def test_a_reshaped_weight_is_named_with_both_shapes(tmp_path):
    path = tmp_path / "wide.pth"
    torch.save({"state_dict": torch.nn.Linear(4, 3).state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"(?s)wide\.pth does not match Linear.*shape mismatches \(2\): "
                                              r"weight \(3, 4\) vs \(2, 4\), bias \(3,\) vs \(2,\)"):
        load_weights(torch.nn.Linear(4, 2), path)
