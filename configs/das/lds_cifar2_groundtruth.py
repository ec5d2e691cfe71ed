# The LDS ground truth of CIFAR-2 (automobile + horse; D-TRAK's split, datasets/cifar.py CIFAR2), sail-sg/D-TRAK
# CIFAR2/scripts/run_lds_val_sub.sh + run_eval_lds_val_sub.sh: 64 random half subsets of the 5,000 training images
# (stratified by class, seeds 42 + 2k as 00_EDA.ipynb's lds-val indices) x training seeds 0, 1, 2 (`seq 0 2`); per
# entry a DDPM trained afresh by the full-data model's recipe (configs/das/_base_/ddpm_recipe.py, the UNet of
# configs/das/cifar2_model.py; init, batches, flips, timesteps and noise drawn from the entry's seed), and each query's
# diffusion loss (eval_unconditional.py: MSE to ε over all 1000 timesteps, noise seeded e_seed·1000 + t, batch 256;
# e_seed 0 as the README runs it). Query sets: "val" (the 1,000 val images), "heldout" (all 2,000 CIFAR-2 test
# images: the attribution configs choose λ on the 1,000 not in val) and "gen" (the 1,000 images cifar2_model's run
# samples, D-TRAK's idx_gen set; upstream "gen", product run).
# Cost: 192 trainings of 200 epochs on 2,500 images (20 steps an epoch, 4,000 steps each), plus 4,000 queries x
# 1000 timesteps of UNet forward passes per entry. The artefact lives in one shared folder (artefact_dir, under the
# results root), so the entries can be split over GPUs or nodes as a sweep (docs/attribution.md), after which a plain
# run finds every entry and trains nothing (the attribution configs' upstream resolves to that folder). Train the
# full-data model first (every worker resolves the "gen" upstream, and would otherwise train it too):
#   bench run configs/das/cifar2_model.py
#   bench sweep configs/das/lds_cifar2_groundtruth.py --grid "method.subsets=$(seq -s, 0 63)" [--address <head>]
#   bench train configs/das/lds_cifar2_groundtruth.py
# D-TRAK's released retrained-model losses (val and gen only) can be imported instead of retraining:
# bench.tasks.attribution.dtrak_import (docs/attribution.md); the heldout set then needs the retrained models.
# Needs data/cifar10 (the CIFAR-10 python pickles, see configs/das/_base_/cifar2.py).
_base_ = ["../_base_/default_run.py", "./_base_/ddpm_recipe.py"]

dataset = dict(type="CIFAR2", root="data/cifar10", split="val")  # the eval stage's queries
method = dict(
    type="LDSGroundTruth",
    unet=dict(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
              block_out_channels=(128, 256, 256, 256),
              down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
              up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
              act_fn="silu", attention_head_dim=None, center_input_sample=False, downsample_padding=0,
              flip_sin_to_cos=False, freq_shift=1, mid_block_scale_factor=1, norm_eps=1e-6, norm_num_groups=32,
              time_embedding_type="positional", resnet_time_scale_shift="scale_shift"),
    scheduler=dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
    query_sets=dict(val=dict(type="CIFAR2", root="data/cifar10", split="val"),
                    heldout=dict(type="CIFAR2", root="data/cifar10", split="test"),
                    gen=dict(type="GeneratedImages", run_dir="upstream:gen")),
    num_subsets=64, alpha=0.5, subset_seed=42, seeds=(0, 1, 2), stratify_key="target",
    protocol=dict(timesteps=1000, noise_seeds=[0], batch_size=256), query_set="val",
    artefact_dir="attribution/cifar2_lds")
upstream = dict(gen=dict(config="das/cifar2_model", product="run"))
train = dict(dataset=dict(type="CIFAR2", root="data/cifar10", split="train"))
task = dict(type="lds_ground_truth")
