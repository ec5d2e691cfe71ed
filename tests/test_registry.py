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


LAZY_CHECK = """
import sys
from bench.registry import ATTACKS, METRICS, SCHEDULERS
import bench.metrics, bench.tasks, bench.tasks.robustness.attacks
METRICS.get("ECE")
assert "bench.methods" not in sys.modules, "a core metric look-up imported the method packages"
import bench.methods
assert "diffusers" not in sys.modules and "torchattacks" not in sys.modules, "registration imported a heavy library"
from bench.methods.compress_guidance.metrics import GuideAccuracy
assert METRICS.get("GuideAccuracy") is GuideAccuracy
import diffusers, torchattacks
from bench.methods.adaptive_momentum_sampler.scheduler import AdaptiveMomentumScheduler
assert SCHEDULERS.get("DDIMScheduler") is diffusers.DDIMScheduler
assert SCHEDULERS.get("AdaptiveMomentumScheduler") is AdaptiveMomentumScheduler
assert ATTACKS.get("PGD") is torchattacks.PGD and ATTACKS.get("BPDAEOT").__module__ == "bench.tasks.robustness.attacks"
"""


def test_registries_import_methods_and_libraries_only_when_needed():
    """Core look-ups never import bench.methods; torchattacks/diffusers load when their registry is queried."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", LAZY_CHECK], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_fallback_finds_a_paper_metric_and_suggests_across_both():
    from bench.methods.compress_guidance.metrics import SamplingCost

    assert METRICS.get("SamplingCost") is SamplingCost
    with pytest.raises(UnknownNameError, match=r"Did you mean 'GuideAccuracy'"):
        METRICS.get("GuideAcuracy")


def test_lazy_entries_resolve_on_first_get_and_are_validated():
    registry = BenchRegistry("thing", scope="bench_test_lazy")
    registry.register_lazy("Ordered", "collections:OrderedDict")
    assert registry.names() == ["Ordered"]
    from collections import OrderedDict

    assert registry.get("Ordered") is OrderedDict and registry.module_dict["Ordered"] is OrderedDict
    with pytest.raises(ValueError, match="'module:Object'"):
        registry.register_lazy("Bad", "collections.OrderedDict")
    with pytest.raises(KeyError, match="already registered"):
        registry.register_lazy("Ordered", "collections:OrderedDict")
    with pytest.raises(UnknownNameError, match="Did you mean 'Ordered'"):
        registry.get("Orderd")


def test_unknown_scheduler_and_attack_names_suggest():
    pytest.importorskip("diffusers")
    pytest.importorskip("torchattacks")
    from bench.registry import ATTACKS, SCHEDULERS

    with pytest.raises(UnknownNameError, match="Did you mean 'DDIMScheduler'"):
        SCHEDULERS.get("DDIMSchedular")
    with pytest.raises(UnknownNameError, match="Did you mean 'BPDAEOT'"):
        ATTACKS.get("BPDA_EOT")
