import pytest

from bench.registry import (DATASETS, METHODS, METRICS, TASKS, BenchRegistry, RegistryConfigError,
                            UnknownNameError, suggest)


def test_lazy_locations_register_the_shipped_entries():
    assert METHODS.get("TimmClassifier").__name__ == "TimmClassifier"
    assert DATASETS.get("Digits").__name__ == "Digits"
    assert METRICS.get("ECE").__name__ == "ECE"
    assert TASKS.get("classification").__name__ == "ClassificationTask"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'TimmClassifier'"):
        METHODS.get("TimmClasifier")


def test_unknown_name_without_close_match_lists_known_entries():
    with pytest.raises(UnknownNameError, match="Known dataset: .*Digits"):
        DATASETS.get("zzzz")


def test_unknown_constructor_key_is_an_error_with_suggestion():
    with pytest.raises(RegistryConfigError, match=r"'n_bin':.*Did you mean 'n_bins'\?"):
        METRICS.build({"type": "ECE", "n_bin": 10})


def test_build_requires_a_type_key():
    with pytest.raises(RegistryConfigError, match="needs a 'type' key"):
        METRICS.build({"n_bins": 10})


def test_registration_is_strict():
    registry = BenchRegistry("thing", scope="bench_test_strict")

    @registry.register_module()
    class Thing:
        pass

    with pytest.raises(KeyError, match="already registered"):
        registry.register_module(name="Thing", module=Thing)


def test_suggest_is_empty_when_nothing_is_close():
    assert suggest("completely-different", ["ECE", "NLL"]) == ""
