"""The restricted unpickler: official data formats load, a crafted file is refused before it runs anything."""
import pickle
from pathlib import Path

import numpy as np
import pytest
from pickle_fixture import malicious_pickle

from bench.safe_pickle import UnsafePickleError, load_npy, load_pickle, loads_pickle, npy_shape


def test_crafted_pickle_runs_code_with_plain_pickle_and_is_refused_here(tmp_path: Path):
    marker = tmp_path / "marker"
    pickle.loads(malicious_pickle(marker))  # the payload is real: plain pickle runs the command
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "data_batch_1"
    path.write_bytes(malicious_pickle(marker))
    with pytest.raises(UnsafePickleError) as error:
        load_pickle(path, encoding="bytes")
    assert not marker.exists()
    assert (error.value.module, error.value.name) == ("posix", "system")
    message = str(error.value)
    assert message.startswith(f"{path}: refused to unpickle the global posix.system")
    assert "download the official file again" in message and isinstance(error.value, ValueError)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_scalars_and_containers_load_at_every_protocol(protocol: int):
    content = {b"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [1, 2, 3], "names": (b"a", "b"),
               "scalar": np.float32(2.5), "objects": np.array([np.zeros(2), None], dtype=object),
               "fields": np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8")]), "set": {1, 2}, "fortran": np.asfortranarray(
                   np.arange(6.0).reshape(2, 3))}
    loaded = loads_pickle(pickle.dumps(content, protocol=protocol))
    assert loaded.keys() == content.keys() and loaded["labels"] == [1, 2, 3] and loaded["set"] == {1, 2}
    assert np.array_equal(loaded[b"data"], content[b"data"]) and loaded[b"data"].dtype == np.uint8
    assert loaded["scalar"] == np.float32(2.5) and loaded["names"] == (b"a", "b")
    assert np.array_equal(loaded["objects"][0], np.zeros(2)) and loaded["objects"][1] is None
    assert loaded["fields"].dtype == content["fields"].dtype and np.array_equal(loaded["fortran"], content["fortran"])


def test_python2_module_names_and_numpy1_paths_resolve():
    # protocol-2 text of numpy 1.x: numpy.core.multiarray._reconstruct, as the official CIFAR pickles name it
    data = pickle.dumps(np.arange(3, dtype=np.int64), protocol=2).replace(b"numpy._core.multiarray",
                                                                           b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in data
    assert loads_pickle(data).tolist() == [0, 1, 2]
    builtin_set = pickle.dumps({3}, protocol=2).replace(b"builtins", b"__builtin__")
    assert loads_pickle(builtin_set) == {3}


def test_other_globals_are_refused(tmp_path: Path):
    for value, name in ((pickle.Pickler, "_pickle.Pickler"), (Path("x"), "pathlib")):
        with pytest.raises(UnsafePickleError, match=f"global {name}"):
            loads_pickle(pickle.dumps(value), source="x.pkl")


def test_truncated_pickle_is_a_value_error_naming_the_file(tmp_path: Path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8)})[:-30])
    with pytest.raises(ValueError, match=f"{path}: not a readable pickle, the file is truncated or corrupt"):
        load_pickle(path)


def test_npy_object_arrays_load_without_np_load_pickle(tmp_path: Path):
    path = tmp_path / "video.npy"
    np.save(path, np.array({"rgb": np.ones((2, 3), np.float32)}, dtype=object), allow_pickle=True)
    array = load_npy(path)
    assert array.dtype == object and array.shape == () and np.array_equal(array.item()["rgb"], np.ones((2, 3)))
    with pytest.raises(ValueError, match="holds a pickled object array"):
        load_npy(path, allow_object=False)
    np.save(path, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert load_npy(path).tolist() == [[0, 1, 2], [3, 4, 5]] and npy_shape(path) == ((2, 3), np.float32)


def test_npy_with_a_crafted_payload_is_refused(tmp_path: Path):
    marker, path = tmp_path / "marker", tmp_path / "video.npy"
    np.save(path, np.array([None], dtype=object), allow_pickle=True)  # a valid object-array header ...
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        offset = f.tell()
    path.write_bytes(path.read_bytes()[:offset] + malicious_pickle(marker, wrap=False))  # ... then the payload
    with pytest.raises(UnsafePickleError, match=f"{path}: refused to unpickle the global posix.system"):
        load_npy(path)
    assert not marker.exists()


def test_corrupt_and_truncated_npy_files(tmp_path: Path):
    path = tmp_path / "video.npy"
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match=f"{path}: not a .npy file or a truncated one"):
        load_npy(path)
    np.save(path, np.zeros((5, 4), np.float32))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"truncated .npy file: 198 bytes, but its header \(\(5, 4\), float32\) "
                                         "needs 208"):
        npy_shape(path)
    with pytest.raises(ValueError, match=f"{path}: corrupt or truncated .npy file"):
        load_npy(path)
