import pytest
import torch

from bench.data import DatasetLayoutError
from bench.datasets.logits_file import LogitsFile


def test_reads_the_calibrator_tuple_and_dict_formats(tmp_path):
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.save((logits, labels), tmp_path / "resnet50_cifar10_cross_entropy_val_0.1_vanilla.pt")
    torch.save({"logits": logits, "labels": labels}, tmp_path / "as_dict.pt")
    a = LogitsFile(str(tmp_path / "resnet50_cifar10_cross_entropy_val_0.1_vanilla.pt"))
    b = LogitsFile(str(tmp_path / "as_dict.pt"))
    assert len(a) == 6 and torch.equal(a[2]["logits"], logits[2]) and int(a[2]["target"]) == 2
    assert a.sample_id(5) == "resnet50_cifar10_cross_entropy_val_0.1_vanilla-00005"
    assert torch.equal(b.logits, a.logits) and a.fingerprint() != b.fingerprint()
    assert a.describe()["num_classes"] == 4


def test_bad_files_name_the_expected_layout(tmp_path):
    with pytest.raises(DatasetLayoutError, match="missing file"):
        LogitsFile(str(tmp_path / "absent.pt"))
    torch.save((torch.randn(3, 2), torch.tensor([0, 1])), tmp_path / "short.pt")
    with pytest.raises(DatasetLayoutError, match=r"logits must be \[N, C\] and labels \[N\]"):
        LogitsFile(str(tmp_path / "short.pt"))
    torch.save([torch.randn(3, 2)], tmp_path / "one.pt")
    with pytest.raises(DatasetLayoutError, match="torch.save"):
        LogitsFile(str(tmp_path / "one.pt"))


def test_corrupt_file_crafted_pickle_and_labels_outside_the_classes(tmp_path):
    from pickle_fixture import malicious_pickle

    path = tmp_path / "logits.pt"
    torch.save((torch.randn(4, 3), torch.tensor([0, 1, 2, 0])), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetLayoutError, match="cannot read the torch file .*corrupt, truncated"):
        LogitsFile(str(path))
    marker = tmp_path / "marker"
    path.write_bytes(malicious_pickle(marker))
    with pytest.raises(DatasetLayoutError, match="cannot read the torch file"):
        LogitsFile(str(path))
    assert not marker.exists()
    torch.save((torch.randn(4, 3), torch.tensor([0, 1, 3, 0])), path)
    with pytest.raises(DatasetLayoutError, match=r"labels must be integer class ids 0..2 \(the logits' 3 columns\), "
                                                 r"got dtype torch.int64, range 0..3"):
        LogitsFile(str(path))
    torch.save((torch.randn(2, 3), torch.tensor([0.0, 1.0])), path)
    with pytest.raises(DatasetLayoutError, match="got dtype torch.float32"):
        LogitsFile(str(path))
