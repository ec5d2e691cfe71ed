# LDS on CelebA 64 (D-TRAK's split: 5,000 train images of partition 0, 1,000 val images of partition 1, chosen by
# sklearn train_test_split(random_state=42); DAS's repo has no CelebA code, its paper follows D-TRAK): every val image
# attributed to the 5,000 training images at k = 32,768 over 10 uniform timesteps, scored by the LDS against models
# retrained on 64 half subsets x 3 seeds (D-TRAK CelebA/scripts/run_lds_val_sub.sh: `seq 0 2`).
# D-TRAK's CelebA grad batch (run_grad.sh) is 16, so TRAK / D-TRAK features repeat their noise every 16 samples
# (noise_batch=16 below; DAS's 03_grad.sh default is 16 too); the loss batch (run_eval_lds_val_sub.sh) is 256.
# Needs (none ships here):
# - checkpoints/das/celeba_ddpm: the full-data DDPM as a diffusers folder (model_index.json, unet/, scheduler/):
#   D-TRAK's CelebA/config.json UNet2DModel (block_out_channels [128, 128, 256, 256, 512, 512], Down x4 / AttnDown /
#   Down, 2 layers per block, attention_head_dim 8, flip_sin_to_cos, freq_shift 0, downsample_padding 1, 64 px),
#   DDPMScheduler(1000, linear), trained by CelebA/scripts/run_train.sh (200 epochs, batch 128, lr 1e-4, AdamW wd
#   1e-6, CenterCrop(140) -> Resize(64) -> CenterCrop(64), random flip, seed 42).
# - results/attribution/celeba_lds: a RetrainedLosses folder with query sets "val" (the 1,000 val images),
#   "heldout" (other partition-1 images, e.g. a CelebA(split="val", val_size=2000) set with the val ids excluded, to
#   choose λ on) and optionally "gen".
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CelebA", root="data/celeba", split="val")
method = dict(
    type="DataAttribution", train_set=dict(type="CelebA", root="data/celeba", split="train"),
    model="checkpoints/das/celeba_ddpm", num_timesteps=10, timestep_strategy="uniform", k=32768, projector_seed=42,
    noise_batch=16, residual_timesteps=1000, chunk_size=1000, batch_size=16,
    lambda_selection=dict(
        retrained_losses="results/attribution/celeba_lds", query_set="heldout",
        queries=dict(type="CelebA", root="data/celeba", split="val", val_size=2000),
        exclude=dict(type="CelebA", root="data/celeba", split="val"),
        test=dict(query_set="val", queries=dict(type="CelebA", root="data/celeba", split="val"))))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="results/attribution/celeba_lds", query_set="val")])
run = dict(batch_size=50)
# No `paper` section: the only CelebA number on the sheet is DAS's gain over D-TRAK (+5.1, secondary), a difference
# of two runs that no single config fills.
