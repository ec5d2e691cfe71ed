# The LDS ground truth of ArtBench-2 (post_impressionism + ukiyo_e; D-TRAK's split,
# datasets/artbench.py), sail-sg/D-TRAK ArtBench2/scripts/run_lds_val_sub.sh + run_eval_lds_val_sub.sh: 64 random
# half subsets of the 5,000 training images
# (stratified by style, seeds 42 + 2k as 00_EDA.ipynb's lds-val indices) x training seeds 0, 1, 2 (`seq 0 2`); per
# entry a LoRA of miniSD trained afresh by the full-data LoRA's recipe (configs/das/_base_/artbench_lora.py; the LoRA
# initialised, batches shuffled and noise drawn from the entry's seed) and each query's latent diffusion loss under its
# caption (eval_text_to_image_lora.py: VAE latent_dist.mode() x scaling_factor, "a {style} painting" embedded, all
# 1000 timesteps, noise seeded e_seed*1000 + t, batch 256; e_seed 0 here, D-TRAK's run_eval takes it as an argument).
# Query sets: "val" (the 1,000 val images the attribution configs score), "gen" (D-TRAK's 1,000 generated images,
# run_eval_lds_val_sub.sh with idx_gen.pkl: sampled from the full-data LoRA by configs/das/artbench2_gen.py, upstream
# "gen", product run; captioned by their prompt) and "heldout" (all 2,000 ArtBench-2 test images: the attribution
# configs choose λ on those not in val).
# Cost: 192 LoRA trainings of 100 epochs on half the training set, plus (1,000 + 1,000 + 2,000) queries x 1000
# timesteps of UNet forward passes per entry. The artefact lives in one shared folder (artefact_dir, under the
# results root), so the entries can be split over GPUs or nodes as a sweep (docs/attribution.md), after which a
# plain run finds every entry and trains nothing (the attribution configs' upstream resolves to that folder):
#   bench sweep configs/das/lds_artbench2_groundtruth.py --grid "method.subsets=$(seq -s, 0 63)" [--address <head>]
#   bench train configs/das/lds_artbench2_groundtruth.py
# The gen run (and the full-data LoRA it samples) comes first: `bench run configs/das/artbench2_gen.py`.
# Needs checkpoints/das/miniSD-diffusers and data/artbench (see configs/das/_base_/artbench2.py).
_base_ = ["../_base_/default_run.py", "./_base_/artbench_lora.py"]

dataset = dict(type="ArtBench", root="data/artbench", subset="artbench2", split="val")  # the eval stage's queries
method = dict(
    type="LDSGroundTruth", pipeline="stable_diffusion", model="checkpoints/das/miniSD-diffusers", lora_rank=128,
    query_sets=dict(val=dict(type="ArtBench", root="data/artbench", subset="artbench2", split="val"),
                    gen=dict(type="GeneratedImages", run_dir="upstream:gen"),
                    heldout=dict(type="ArtBench", root="data/artbench", subset="artbench2", split="test")),
    num_subsets=64, alpha=0.5, subset_seed=42, seeds=(0, 1, 2), stratify_key="target",
    protocol=dict(timesteps=1000, noise_seeds=[0], batch_size=256), query_set="val",
    artefact_dir="attribution/artbench2_lds")
train = dict(dataset=dict(type="ArtBench", root="data/artbench", subset="artbench2", split="train"))
upstream = dict(gen=dict(config="das/artbench2_gen", product="run"))
task = dict(type="lds_ground_truth")
