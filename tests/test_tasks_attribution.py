"""The LDS benchmark core (bench.tasks.attribution, bench.metrics.attribution): Spearman/LDS against scipy, the
benchmark's sign convention, D-TRAK's subset draw and files, the diffusion-loss ground truth, the retrained-losses
artefact and its D-TRAK importer, and the LDS metric on a stored run."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from bench.data import DatasetLayoutError
from bench.registry import TASKS
from bench.store import SampleStore, StoreError
from bench.tasks.attribution.dtrak_import import import_dtrak_losses
from bench.tasks.attribution.ground_truth import RetrainedLosses, diffusion_losses
from bench.tasks.attribution.lds import columnwise_spearman, linear_datamodel_score, lds_summary
from bench.tasks.attribution.subsets import (DTRAK_GROUP_SEEDS, read_dtrak_subsets, sample_subsets,
                                             write_dtrak_subsets)


# -- lds.py ---------------------------------------------------------------------------------------------------------
def test_columnwise_spearman_equals_scipy_with_ties_and_a_constant_column():
    a = np.array([[1.0, 3.0, 2.0], [2.0, 3.0, 2.0], [2.0, 1.0, 2.0], [5.0, 0.0, 2.0], [4.0, 3.0, 2.0]])
    b = np.array([[0.3, 1.0, 5.0], [0.1, 1.0, 4.0], [0.2, 2.0, 3.0], [0.9, 2.0, 2.0], [0.9, 0.0, 1.0]])
    rho = columnwise_spearman(a, b)
    for q in range(2):
        assert rho[q] == pytest.approx(spearmanr(a[:, q], b[:, q]).statistic, abs=1e-12)
    assert rho[0] == pytest.approx(12 / 19)  # by hand: average ranks (1, 2.5, 2.5, 5, 4) vs (3, 1, 2, 4.5, 4.5)
    assert np.isnan(rho[2])  # constant predictions: no rho (scipy gives NaN too)
    with pytest.warns(Warning):
        assert np.isnan(spearmanr(a[:, 2], b[:, 2]).statistic)


def test_lds_is_spearman_of_negated_summed_scores_against_the_losses():
    rng = np.random.default_rng(0)
    masks = rng.random((12, 7)) < 0.5
    scores, outputs = rng.normal(size=(4, 7)), rng.normal(size=(12, 4))
    rho = linear_datamodel_score(scores, masks, outputs)
    expected = [spearmanr(masks @ -scores[q], outputs[:, q]).statistic for q in range(4)]
    np.testing.assert_allclose(rho, expected, atol=1e-12)


def test_sign_convention_scores_that_lower_the_loss_give_lds_100():
    rng = np.random.default_rng(1)
    masks = rng.random((20, 9)) < 0.5
    w = rng.normal(size=(3, 9))  # the true effect of including each training sample on each query's loss
    outputs = masks @ w.T + 0.7
    support = -w  # positive score = including the sample lowers the loss
    assert lds_summary(linear_datamodel_score(support, masks, outputs)) == pytest.approx(
        {"LDS": 100.0, "LDS_stderr": 0.0, "LDS_nan_queries": 0.0})
    assert lds_summary(linear_datamodel_score(w, masks, outputs))["LDS"] == pytest.approx(-100.0)


def test_constant_query_is_nan_and_counted_not_zero():
    masks = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    outputs = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])  # query 1's loss never changes
    rho = linear_datamodel_score(np.array([[-1.0, 0.0], [1.0, 2.0]]), masks, outputs)
    assert rho[0] == pytest.approx(spearmanr([1.0, 0.0, 1.0], [1.0, 2.0, 3.0]).statistic) and np.isnan(rho[1])
    summary = lds_summary(rho)
    assert summary["LDS"] == pytest.approx(100 * rho[0]) and summary["LDS_nan_queries"] == 1.0
    assert np.isnan(summary["LDS_stderr"])  # one finite query: no standard error


def test_lds_input_errors():
    masks = np.ones((3, 2), dtype=bool)
    with pytest.raises(ValueError, match="scores hold NaN or Inf for 1 queries"):
        linear_datamodel_score(np.array([[np.nan, 0.0]]), masks, np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"outputs must be \[subsets, queries\] = \[3, 1\]"):
        linear_datamodel_score(np.zeros((1, 2)), masks, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="scores cover 3 training samples but the masks 2"):
        linear_datamodel_score(np.zeros((1, 3)), masks, np.zeros((3, 1)))


# -- subsets.py -----------------------------------------------------------------------------------------------------
def test_subsets_are_deterministic_stratified_and_dtrak_s_draw():
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(3)
    labels = np.array([1] * 30 + [7] * 20)[rng.permutation(50)]
    masks = sample_subsets(50, 5, alpha=0.5, seed=DTRAK_GROUP_SEEDS["lds-val"], labels=labels)
    np.testing.assert_array_equal(masks, sample_subsets(50, 5, 0.5, 42, labels))
    assert masks.shape == (5, 50) and (masks.sum(1) == 25).all()
    assert ((masks & (labels == 1)).sum(1) == 15).all() and ((masks & (labels == 7)).sum(1) == 10).all()
    assert len({m.tobytes() for m in masks}) == 5
    # D-TRAK's notebook: a frame whose index holds CIFAR indices, split with random_state = 42 + count + k
    df_train = pd.DataFrame({"label": labels}, index=rng.choice(50000, size=50, replace=False))
    idx_train, count = df_train.index.to_list(), 0
    for k in range(5):
        tmp, _ = train_test_split(df_train, train_size=0.5, random_state=42 + count + k, stratify=df_train["label"])
        np.testing.assert_array_equal(masks[k], np.isin(idx_train, tmp.index.to_list()))
        count += 1
    unstratified = sample_subsets(50, 2, alpha=0.3, seed=7)
    assert (unstratified.sum(1) == 15).all() and not np.array_equal(unstratified, sample_subsets(50, 2, 0.3, 8))


def test_dtrak_subset_files_roundtrip_and_errors(tmp_path: Path):
    masks = sample_subsets(10, 3, seed=42)
    train = np.arange(100, 110)[::-1]
    written = write_dtrak_subsets(tmp_path, masks, train)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [f"lds-val/sub-idx-{k}.pkl" for k in range(3)]
    assert pickle.loads((tmp_path / "lds-val" / "sub-idx-0.pkl").read_bytes()) == train[masks[0]].tolist()
    np.testing.assert_array_equal(read_dtrak_subsets(tmp_path), masks)
    np.testing.assert_array_equal(read_dtrak_subsets(tmp_path, count=2), masks[:2])
    with pytest.raises(DatasetLayoutError, match=r"file not found(.|\n)*sub-idx-3.pkl"):
        read_dtrak_subsets(tmp_path, count=4)
    (tmp_path / "lds-val" / "sub-idx-1.pkl").write_bytes(pickle.dumps([100, 5]))
    with pytest.raises(DatasetLayoutError, match=r"1 indices are not in the training set(.|\n)*sub-idx-1.pkl"):
        read_dtrak_subsets(tmp_path)


# -- ground_truth.py ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_unet():
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    return unet, DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")


def test_diffusion_losses_equal_the_benchmark_script_loop(tiny_unet):
    unet, scheduler = tiny_unet
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    steps = [0, 999]
    losses = diffusion_losses(unet, scheduler, images, timesteps=steps, noise_seed=2, batch_size=2)
    assert losses.dtype == np.float64 and losses.shape == (3,)
    # eval_unconditional.py: per batch, per t: seed the global RNG with e_seed*1000 + t, randn_like, ε-MSE
    expected = []
    with torch.no_grad():
        for start in range(0, 3, 2):  # the last batch holds one image: its noise restarts from the seed
            latents = images[start:start + 2] * 2 - 1
            per_t = []
            for t in steps:
                torch.manual_seed(2 * 1000 + t)
                noise = torch.randn_like(latents)
                timesteps = torch.tensor([t] * len(latents))
                pred = unet(scheduler.add_noise(latents, noise, timesteps), timesteps).sample
                per_t.append(((pred - noise) ** 2).mean(dim=(1, 2, 3)).numpy())
            expected.append(np.mean(per_t, axis=0))
    np.testing.assert_allclose(losses, np.concatenate(expected), rtol=1e-6)
    assert unet.training  # left in its mode
    other = diffusion_losses(unet, scheduler, images, timesteps=steps, noise_seed=3, batch_size=2)
    assert not np.allclose(other, losses)


def test_write_model_follows_the_manifest_protocol_and_checks_the_query_order(tmp_path: Path, tiny_unet):
    unet, scheduler = tiny_unet
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    artefact = RetrainedLosses.create(tmp_path / "gt", masks=sample_subsets(4, 2, seed=42), seeds=[0], alpha=0.5,
                                      train_fingerprint="fp", query_sets={"val": {"sample_ids": ["x", "y"]}},
                                      training_config_sha256="cfg", protocol={"timesteps": 1, "noise_seeds": [0, 3]})
    assert artefact.manifest["protocol"] == {"timesteps": 1, "noise_seeds": [0, 3], "batch_size": 256}
    with pytest.raises(ValueError, match="not the artefact's queries in its order"):
        artefact.write_model(1, 0, unet, scheduler, {"val": (["y", "x"], images)})
    artefact.write_model(1, 0, unet, scheduler, {"val": (["x", "y"], images)})
    expected = [diffusion_losses(unet, scheduler, images, timesteps=[0], noise_seed=e) for e in (0, 3)]
    np.testing.assert_allclose(artefact.losses("val")[1, 0], np.mean(expected, axis=0))
    assert artefact.missing() == [("val", 0, 0)]


def _artefact(folder: Path, alpha: float = 0.5) -> RetrainedLosses:
    masks = sample_subsets(6, 4, seed=42)
    return RetrainedLosses.create(folder, masks=masks, seeds=[0, 1], alpha=alpha, train_fingerprint="train-fp",
                                  query_sets={"val": {"sample_ids": ["q0", "q1", "q2"], "fingerprint": "val-fp"}},
                                  training_config_sha256="cfg", protocol={"timesteps": 1000, "noise_seeds": [0]})


def test_artefact_roundtrip_and_resume_of_a_partial_one(tmp_path: Path):
    artefact = _artefact(tmp_path / "gt")
    assert sorted(p.relative_to(tmp_path / "gt").as_posix() for p in (tmp_path / "gt").rglob("*")
                  if p.is_file() and p.name != ".lock") == ["losses/val.npy", "manifest.json", "queries/val.json",
                                                            "subsets.npy"]
    assert len(artefact.missing()) == 8
    artefact.write(2, 1, {"val": [0.1, 0.2, 0.3]})
    resumed = _artefact(tmp_path / "gt")  # a sweep worker re-creates it: same manifest, entries kept
    assert resumed.complete()["val"].tolist() == [[False, False], [False, False], [False, True], [False, False]]
    assert ("val", 2, 1) not in resumed.missing() and ("val", 2, 0) in resumed.missing()
    with pytest.raises(StoreError, match=r"7 of 8 \(subset, seed\) entries of query set 'val' are not computed"):
        resumed.mean_losses("val")
    for s in range(4):
        for seed in (0, 1):
            if (s, seed) != (2, 1):
                resumed.write(s, seed, {"val": np.full(3, s + 0.5 * seed)})
    opened = RetrainedLosses.open(tmp_path / "gt")
    assert opened.missing() == [] and opened.query_ids("val") == ["q0", "q1", "q2"]
    np.testing.assert_array_equal(opened.masks(), sample_subsets(6, 4, seed=42))
    mean = opened.mean_losses("val")
    assert mean.shape == (4, 3) and mean[0].tolist() == [0.25] * 3
    np.testing.assert_allclose(mean[2], [(2 + 0.1) / 2, (2 + 0.2) / 2, (2 + 0.3) / 2])
    with pytest.raises(StoreError, match="different alpha"):
        _artefact(tmp_path / "gt", alpha=0.25)


def test_artefact_errors_name_the_file_and_the_fix(tmp_path: Path):
    artefact = _artefact(tmp_path / "gt")
    with pytest.raises(ValueError, match="query set 'val' has 3 queries, got losses of shape"):
        artefact.write(0, 0, {"val": [1.0, 2.0]})
    with pytest.raises(ValueError, match="hold NaN or Inf"):
        artefact.write(0, 0, {"val": [1.0, np.nan, 2.0]})
    with pytest.raises(ValueError, match="seed 5 is not one of the artefact's seeds"):
        artefact.write(0, 5, {"val": [1.0, 2.0, 3.0]})
    np.save(tmp_path / "gt" / "losses" / "val.npy", np.zeros((4, 2, 2)))
    with pytest.raises(StoreError, match=r"val.npy: expected float64 \[4, 2, 3\].*found float64 \[4, 2, 2\]"):
        artefact.losses("val")
    (tmp_path / "gt" / "losses" / "val.npy").unlink()
    with pytest.raises(FileNotFoundError, match="val.npy: not found, the retrained-losses folder is incomplete"):
        artefact.complete()
    np.save(tmp_path / "gt" / "subsets.npy", ~artefact.masks())
    with pytest.raises(StoreError, match="subsets differ"):
        RetrainedLosses.open(tmp_path / "gt").masks()
    with pytest.raises(FileNotFoundError, match="manifest.json: not found; a RetrainedLosses folder holds"):
        RetrainedLosses.open(tmp_path / "nowhere")


# -- dtrak_import.py ------------------------------------------------------------------------------------------------
def test_dtrak_import_reproduces_the_notebook_ground_truth(tmp_path: Path):
    rng = np.random.default_rng(5)
    masks = sample_subsets(8, 3, seed=42)
    write_dtrak_subsets(tmp_path / "indices", masks, np.arange(8) * 3)
    raw = rng.random((3, 2, 2, 4, 5))  # subset, seed, e_seed, timestep, query
    for k in range(3):
        for seed in range(2):
            if (k, seed) == (1, 1):
                continue  # a sweep that has not finished
            for e in range(2):
                batches = [[raw[k, seed, e, t, :3] for t in range(4)], [raw[k, seed, e, t, 3:] for t in range(4)]]
                path = tmp_path / "saved" / f"ddpm-sub-{k}-{seed}" / f"e-{e}-val.pkl"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(pickle.dumps(batches))
    artefact = import_dtrak_losses(tmp_path / "saved", tmp_path / "indices", tmp_path / "gt", train_fingerprint="fp",
                                   query_sets=("val",), num_subsets=3, seeds=(0, 1), noise_seeds=(0, 1))
    assert artefact.missing() == [("val", 1, 1)]
    assert artefact.manifest["protocol"]["timesteps"] == 4 and artefact.manifest["protocol"]["noise_seeds"] == [0, 1]
    np.testing.assert_array_equal(artefact.masks(), masks)
    losses = artefact.losses("val")
    np.testing.assert_allclose(losses[0, 1], raw[0, 1].mean(axis=(0, 1)))
    # the notebook: sum over seeds and e_seeds / (seeds * e_seeds), then mean over timesteps
    complete = [0, 2]
    notebook = raw[complete].sum(axis=(1, 2)) / 4
    np.testing.assert_allclose(losses[complete].mean(axis=1), notebook.mean(axis=1))
    (tmp_path / "saved" / "ddpm-sub-0-0" / "e-1-val.pkl").unlink()
    with pytest.raises(DatasetLayoutError, match=r"noise seeds \[0, 1\] are all needed(.|\n)*e-1-val.pkl"):
        import_dtrak_losses(tmp_path / "saved", tmp_path / "indices", tmp_path / "gt2", train_fingerprint="fp",
                            query_sets=("val",), num_subsets=3, seeds=(0, 1), noise_seeds=(0, 1))


# -- the task and the LDS metric on a stored run --------------------------------------------------------------------
def test_lds_gain_subtracts_a_reference_run_of_the_same_benchmark_and_refuses_another(tmp_path: Path):
    from bench.io import atomic_write_json
    from bench.metrics.attribution import LDS, LDSGain
    from bench.results import RESULTS_FILE, SCHEMA_VERSION

    rng = np.random.default_rng(3)
    masks = sample_subsets(12, 16, seed=42)
    w = rng.normal(size=(5, 12))
    ids = [f"q{i}" for i in range(5)]
    artefact = RetrainedLosses.create(tmp_path / "gt", masks=masks, seeds=[0], alpha=0.5, train_fingerprint="fp",
                                      query_sets={"val": {"sample_ids": ids}}, training_config_sha256="cfg")
    for k in range(16):
        artefact.write(k, 0, {"val": masks[k] @ w.T})
    outputs = {"sample_id": ids, "scores": torch.as_tensor(-w + 0.3 * rng.normal(size=w.shape))}
    lds = LDS(str(tmp_path / "gt"), "val")
    ours = lds.compute(outputs)["LDS"]
    reference = tmp_path / "dtrak_run"
    recorded = {"schema_version": SCHEMA_VERSION, "metrics": {"LDS": 12.5},
                "evaluation": {"ground_truth": {"LDS": lds.describe()}}}
    atomic_write_json(reference / RESULTS_FILE, recorded)
    gain = LDSGain(str(tmp_path / "gt"), "val", reference=str(reference)).compute(outputs)
    assert gain == {"LDS_gain": pytest.approx(ours - 12.5, abs=1e-12), "LDS": ours, "LDS_reference": 12.5}
    other = {**recorded["evaluation"]["ground_truth"]["LDS"], "manifest_sha256": "0" * 64}
    atomic_write_json(reference / RESULTS_FILE, {**recorded, "evaluation": {"ground_truth": {"LDS": other}}})
    with pytest.raises(ValueError, match=r"LDSGain: the reference run .*dtrak_run has no LDS against this ground "
                                         r"truth .*gt, query set 'val'"):
        LDSGain(str(tmp_path / "gt"), "val", reference=str(reference)).compute(outputs)
    with pytest.raises(FileNotFoundError, match=r"LDSGain: the reference run .*missing has no results.json"):
        LDSGain(str(tmp_path / "gt"), "val", reference=str(tmp_path / "missing")).compute(outputs)


def test_data_attribution_task_scores_lds_from_a_stored_run(tmp_path: Path):
    rng = np.random.default_rng(7)
    masks = sample_subsets(10, 16, seed=42)
    w = rng.normal(size=(4, 10))
    ids = ["a", "b", "c", "d"]
    artefact = RetrainedLosses.create(tmp_path / "gt", masks=masks, seeds=[0, 1], alpha=0.5, train_fingerprint="fp",
                                      query_sets={"val": {"sample_ids": ids}}, training_config_sha256="cfg")
    for s in range(16):
        for seed in (0, 1):
            artefact.write(s, seed, {"val": masks[s] @ w.T + 0.01 * seed})
    # the run holds the queries in another order than the artefact: rows match by sample id
    order = [2, 0, 3, 1]
    store = SampleStore(tmp_path / "run", "ab" * 32, flush_every=1)
    store.add([ids[q] for q in order], torch.arange(4), torch.zeros(4), {"scores": torch.as_tensor(-w[order])})
    store.flush()
    outputs = SampleStore(tmp_path / "run", "ab" * 32).load()
    task = TASKS.build(dict(type="data_attribution", retrained_losses=str(tmp_path / "gt"), query_set="val"))
    values = task.evaluate(outputs)
    assert values == pytest.approx({"LDS": 100.0, "LDS_stderr": 0.0, "LDS_nan_queries": 0.0, "LDS_queries": 4.0,
                                    "LDS_subsets": 16.0})
    assert task.describe()["ground_truth"]["LDS"]["query_set"]["num_queries"] == 4
    by_index = TASKS.build(dict(type="data_attribution", retrained_losses=str(tmp_path / "gt"), query_set="val",
                                match="index"))
    assert by_index.evaluate(outputs)["LDS"] < 100.0  # rows in run order are the wrong columns
    with pytest.raises(ValueError, match=r"1 query rows have no column in .* query set 'val' \(by sample_id"):
        task.evaluate({**outputs, "sample_id": ["c", "a", "d", "z"]})
    with pytest.raises(ValueError, match=r"scores must be \[queries, 10\]"):
        task.evaluate({**outputs, "scores": torch.zeros(4, 9)})
    with pytest.raises(ValueError, match="set task.retrained_losses"):
        TASKS.build(dict(type="data_attribution"))


def test_retrained_loss_spread_averages_over_queries():
    from bench.metrics.attribution import RetrainedLossSpread

    outputs = {"loss_mean": torch.tensor([1.0, 2.0]), "loss_std": torch.tensor([0.1, 0.4])}
    assert RetrainedLossSpread().compute(outputs) == pytest.approx(
        {"loss_mean": 1.5, "loss_std": 0.25, "loss_relative_std": 0.15})
    task = TASKS.build(dict(type="lds_ground_truth"))
    assert task.evaluate(outputs)["loss_relative_std"] == pytest.approx(0.15)
    with pytest.raises(ValueError, match="RetrainedLossSpread: no query rows"):
        RetrainedLossSpread().compute({"loss_mean": torch.zeros(0), "loss_std": torch.zeros(0)})


# -- counterfactual.py ----------------------------------------------------------------------------------------------
def test_top_k_removals_take_the_highest_scores_with_ties_in_position_order():
    from bench.tasks.attribution.counterfactual import rank_top_k, top_k_removals

    scores = np.array([[1.0, 3.0, 3.0, 0.0, 3.0, -5.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [-1, -2, -3, -4, -5, 9]])
    assert top_k_removals(scores, 2).tolist() == [[1, 2], [0, 1], [5, 0]]
    assert top_k_removals(scores, 4).tolist() == [[1, 2, 4, 0], [0, 1, 2, 3], [5, 0, 1, 2]]
    assert top_k_removals(torch.tensor(scores[::-1].copy()), 1).tolist() == [[5], [0], [1]]
    with pytest.raises(ValueError, match=r"k must be in 1\.\.5 \(the training set has 6 samples\), got 6"):
        top_k_removals(scores, 6)
    with pytest.raises(ValueError, match=r"scores of queries \[1\] are not finite"):
        top_k_removals(np.where(np.arange(18).reshape(3, 6) == 9, np.nan, scores), 1)
    assert rank_top_k(scores, 6)[:, :4].tolist() == top_k_removals(scores, 4).tolist()  # k = N: a full ranking
    with pytest.raises(ValueError, match=r"compression: expected scores \[queries, train\] and k in 1\.\.train"):
        rank_top_k(scores, 0, "compression")


def test_random_removals_are_seeded_per_query_and_distinct():
    from bench.tasks.attribution.counterfactual import random_removals

    draw = random_removals(3, 50, 10, seed=7)
    assert draw.shape == (3, 10) and all(len(set(row)) == 10 and list(row) == sorted(row) for row in draw)
    assert (draw == random_removals(3, 50, 10, seed=7)).all()
    assert (random_removals(5, 50, 10, seed=7)[:3] == draw).all()  # query q's draw ignores the number of queries
    assert (draw[0] == np.sort(np.random.default_rng([7, 0]).choice(50, 10, replace=False))).all()
    assert not (random_removals(3, 50, 10, seed=8) == draw).all()


class _SameModel:
    """``train_model`` returning one fixed model whatever the subset (a retraining that changes nothing), recording
    the kept positions; ``stop_after`` calls it raises (a run killed mid-way)."""

    def __init__(self, unet, stop_after: int | None = None) -> None:
        self.unet, self.stop_after, self.kept = unet, stop_after, []

    def __call__(self, subset, seed, work_dir):
        if self.stop_after is not None and len(self.kept) == self.stop_after:
            raise KeyboardInterrupt
        self.kept.append((list(subset.indices), seed, work_dir.name))
        from diffusers import DDPMScheduler

        return self.unet, DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")


def _generate(unet, scheduler, seed):
    """The project's sampler (DiffusionSampler's loop), 5 DDIM steps, one image in [0, 1]."""
    from diffusers import DDIMScheduler

    from bench.methods.diffusion.adapter import sample_images
    from bench.tasks.attribution.counterfactual import to_unit_range

    with torch.no_grad():
        return to_unit_range(sample_images(unet, DDIMScheduler.from_config(scheduler.config), 5, [seed], "cpu"))[0]


def _edits(folder: Path, unet, removals: dict, seeds=(11, 12)):
    from diffusers import DDPMScheduler

    from bench.tasks.attribution.counterfactual import CounterfactualEdits

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    originals = torch.stack([_generate(unet, scheduler, s) for s in seeds])
    return CounterfactualEdits.create(folder, originals=originals, query_ids=[f"q{s}" for s in seeds],
                                      query_seeds=seeds, removals=removals, num_train=9, train_fingerprint="fp",
                                      training_config_sha256="tiny", random_seed=3, train_seed=5)


def test_counterfactual_of_an_unchanged_model_is_zero_and_resumes_per_entry(tmp_path: Path, tiny_unet):
    from bench.tasks.attribution.counterfactual import CounterfactualEdits, random_removals, retrain_without

    unet, _ = tiny_unet
    removals = {"das1": np.array([[8, 0], [3, 4]]), "random": random_removals(2, 9, 2, seed=3)}
    artefact = _edits(tmp_path / "cf", unet, removals)
    assert artefact.manifest["random_seed"] == 3 and artefact.missing() == [
        ("das1", 0), ("das1", 1), ("random", 0), ("random", 1)]
    train = list(range(9))
    stopped = _SameModel(unet, stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        retrain_without(artefact, train, stopped, _generate, tmp_path / "work", progress=False)
    assert stopped.kept == [([1, 2, 3, 4, 5, 6, 7], 5, "das1-0000")]  # all but the removed, the full model's seed
    reopened = CounterfactualEdits.open(tmp_path / "cf")
    assert reopened.missing() == [("das1", 1), ("random", 0), ("random", 1)]
    resumed = _SameModel(unet)
    summary = retrain_without(reopened, train, resumed, _generate, tmp_path / "work", progress=False)
    assert [(e["kind"], e["query"]) for e in summary["trained"]] == [("das1", 1), ("random", 0), ("random", 1)]
    assert summary["skipped"] == 1 and summary["remaining"] == 0
    assert resumed.kept[0][0] == [0, 1, 2, 5, 6, 7, 8]
    assert reopened.l2("das1").tolist() == [0.0, 0.0] and reopened.l2("random").tolist() == [0.0, 0.0]
    assert not (tmp_path / "work").exists()  # entry folders removed once stored
    assert retrain_without(reopened, train, _SameModel(unet, stop_after=0), _generate, tmp_path / "work",
                           progress=False) == {"trained": [], "skipped": 4, "remaining": 0}


def test_counterfactual_l2_is_the_pixel_norm_of_the_change(tmp_path: Path, tiny_unet):
    unet, _ = tiny_unet
    artefact = _edits(tmp_path / "cf", unet, {"dtrak": np.array([[0], [1]])})
    originals = artefact.originals()
    artefact.write("dtrak", 0, originals[0])
    artefact.write("dtrak", 1, np.clip(originals[1] + 0.1, 0, 1))
    expected = np.sqrt(((np.clip(originals[1] + 0.1, 0, 1) - originals[1]).astype(np.float64) ** 2).sum())
    assert artefact.l2("dtrak") == pytest.approx([0.0, expected], abs=1e-6) and expected > 0.3
    # the paper's CLIP similarity: the cosine of any embedder's embeddings (here a fixed linear map of the pixels)
    weights = np.random.default_rng(0).normal(size=(originals[0].size, 5))

    def embed(images):
        return images.reshape(len(images), -1).astype(np.float64) @ weights
    first, second = embed(np.clip(originals[1:] + 0.1, 0, 1))[0], embed(originals[1:])[0]
    cosine = first @ second / np.linalg.norm(first) / np.linalg.norm(second)
    assert artefact.similarity("dtrak", embed) == pytest.approx([1.0, cosine], abs=1e-12) and cosine < 0.999
    with pytest.raises(ValueError, match=r"the embedder must map 2 images to \[2, D\] embeddings, got \[\[2\], "):
        artefact.similarity("dtrak", lambda images: np.ones(len(images)))


def test_counterfactual_artefact_adds_kinds_and_refuses_another_setting(tmp_path: Path, tiny_unet):
    from bench.tasks.attribution.counterfactual import CounterfactualEdits

    unet, _ = tiny_unet
    first = _edits(tmp_path / "cf", unet, {"das1": np.array([[0], [1]]), "random": np.array([[2], [3]])})
    first.write("random", 0, first.originals()[0])
    both = _edits(tmp_path / "cf", unet, {"dtrak": np.array([[4], [5]]), "random": np.array([[2], [3]])})
    assert both.kinds == ["das1", "random", "dtrak"] and both.removals("das1").tolist() == [[0], [1]]
    assert ("random", 0) not in both.missing() and ("dtrak", 0) in both.missing()  # stored entries kept
    with pytest.raises(StoreError, match=r"another setting \(different kinds\.random\)"):
        _edits(tmp_path / "cf", unet, {"random": np.array([[2], [4]])})
    with pytest.raises(StoreError, match=r"different originals_sha256, query_ids, query_seeds"):
        _edits(tmp_path / "cf", unet, {"das1": np.array([[0], [1]])}, seeds=(11, 13))
    with pytest.raises(StoreError, match=r"removal kind 'dtrak' is not complete \(missing queries \[0, 1\]\)"):
        both.l2("dtrak")
    with pytest.raises(ValueError, match="the 'random' removals need their random_seed recorded"):
        CounterfactualEdits.create(tmp_path / "other", originals=np.zeros((1, 1, 8, 8)), query_ids=["a"],
                                   query_seeds=[0], removals={"random": [[0]]}, num_train=9, train_fingerprint="fp",
                                   training_config_sha256="x")
    with pytest.raises(ValueError, match=r"removals\['das1'\] must be \[1, k\] positions in 0\.\.8"):
        CounterfactualEdits.create(tmp_path / "other", originals=np.zeros((1, 1, 8, 8)), query_ids=["a"],
                                   query_seeds=[0], removals={"das1": [[9]]}, num_train=9, train_fingerprint="fp",
                                   training_config_sha256="x")
    with pytest.raises(FileNotFoundError, match=r"manifest.json: not found; a counterfactual-edits folder holds"):
        CounterfactualEdits.open(tmp_path / "none")


def test_counterfactual_task_summarises_l2_against_the_random_control():
    from bench.metrics.attribution import CounterfactualL2

    outputs = {"l2_topk": torch.tensor([3.0, 1.0, 2.0]), "l2_random": torch.tensor([1.0, 2.0, 1.0])}
    assert CounterfactualL2().compute(outputs) == pytest.approx(
        {"l2_topk": 2.0, "l2_random": 4 / 3, "l2_topk_over_random": 1.5, "topk_beats_random": 2 / 3})
    assert TASKS.build(dict(type="attribution_counterfactual")).evaluate(outputs)["l2_topk"] == pytest.approx(2.0)


def test_counterfactual_clip_summarises_the_similarity_against_the_random_control():
    from bench.metrics.attribution import CounterfactualCLIP

    outputs = {"l2_topk": torch.tensor([3.0, 1.0, 2.0]), "l2_random": torch.tensor([1.0, 2.0, 1.0]),
               "clip_topk": torch.tensor([0.5, 0.9, 0.7]), "clip_random": torch.tensor([0.8, 0.8, 0.8])}
    assert CounterfactualCLIP().compute(outputs) == pytest.approx(
        {"clip_topk": 0.7, "clip_random": 0.8, "topk_below_random": 2 / 3})
    task = TASKS.build(dict(type="attribution_counterfactual",
                            metrics=[dict(type="CounterfactualL2"), dict(type="CounterfactualCLIP")]))
    values = task.evaluate(outputs)
    assert values["clip_topk"] == pytest.approx(0.7) and values["l2_topk"] == pytest.approx(2.0)
    assert task.finite_columns(outputs) == ["l2_topk", "l2_random", "clip_topk", "clip_random"]
    with pytest.raises(KeyError, match=r"clip_random"):
        task.evaluate({key: value for key, value in outputs.items() if key != "clip_random"})
