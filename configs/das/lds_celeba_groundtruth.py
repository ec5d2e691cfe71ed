# The LDS ground truth of CelebA 64 (D-TRAK's split, datasets/celeba.py), sail-sg/D-TRAK CelebA/scripts/
# run_lds_val_sub.sh + run_eval_lds_val_sub.sh: 64 random half subsets of the 5,000 training images (seeds 42 + 2k;
# one class, so not stratified) x training seeds 0, 1, 2 (`seq 0 2`), each a DDPM trained afresh by the full-data
# model's recipe (configs/das/celeba_model.py), each query's diffusion loss over all 1000 timesteps (noise seeded
# e_seed·1000 + t, e_seed 0, batch 256), as for CIFAR-2 (configs/das/lds_cifar2_groundtruth.py). 00_EDA.ipynb draws
# the subsets with train_test_split(train_size=0.5, random_state=42 + 2k) unstratified. Query sets: "val" (the 1,000
# val images of partition 1), "heldout" (CelebA(split="val", val_size=2000): the attribution configs choose λ on
# those not in val) and "gen" (celeba_model's 1,000 generated images). DAS has no CelebA code (sheet §5). Cost: 192
# trainings of 200 epochs on 2,500 64-px images, plus 4,000 queries x 1000 timesteps per entry. As a sweep, after
# training the full-data model:
#   bench run configs/das/celeba_model.py
#   bench sweep configs/das/lds_celeba_groundtruth.py --grid "method.subsets=$(seq -s, 0 63)" [--address <head>]
#   bench train configs/das/lds_celeba_groundtruth.py
_base_ = ["../_base_/default_run.py", "./_base_/ddpm_recipe.py"]

dataset = dict(type="CelebA", root="data/celeba", split="val")
method = dict(
    type="LDSGroundTruth",
    unet=dict(sample_size=64, in_channels=3, out_channels=3, layers_per_block=2,
              block_out_channels=(128, 128, 256, 256, 512, 512),
              down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D",
                                "DownBlock2D"),
              up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
              act_fn="silu", attention_head_dim=8, center_input_sample=False, downsample_padding=1,
              flip_sin_to_cos=True, freq_shift=0, mid_block_scale_factor=1, norm_eps=1e-5, norm_num_groups=32,
              time_embedding_type="positional", resnet_time_scale_shift="scale_shift"),
    scheduler=dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
    query_sets=dict(val=dict(type="CelebA", root="data/celeba", split="val"),
                    heldout=dict(type="CelebA", root="data/celeba", split="val", val_size=2000),
                    gen=dict(type="GeneratedImages", run_dir="upstream:gen")),
    num_subsets=64, alpha=0.5, subset_seed=42, seeds=(0, 1, 2), stratify_key=None,
    protocol=dict(timesteps=1000, noise_seeds=[0], batch_size=256), query_set="val",
    artefact_dir="attribution/celeba_lds")
upstream = dict(gen=dict(config="das/celeba_model", product="run"))
train = dict(dataset=dict(type="CelebA", root="data/celeba", split="train"))
task = dict(type="lds_ground_truth")
