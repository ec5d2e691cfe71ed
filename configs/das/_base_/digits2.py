# digits-2, the toy LDS benchmark of the DAS demo: two digit classes (0 and 1) of scikit-learn's digits at their
# native 8x8, 240 training images and 60 validation queries (Digits2's stratified split, as CIFAR-2's), a tiny DDPM
# (164k parameters, 160 AdamW steps on a 120-image subset) and its LDS ground truth (LDSGroundTruth: the
# retrained-losses artefact). Configs that attribute replace the method (method=dict(_delete_=True, ...)) and keep
# the data, the UNet and the schedule.
# Is there signal? Per query, the Spearman rho of the retrained losses across subsets between two training seeds
# (the part of the subset effect that retraining reproduces) is 0.40 here (16 subsets, 40 epochs; mean over the 60
# queries, median 0.43); with 8 subsets it is 0.35 at 30 epochs and 0.48 at 60, and between two noise seeds of one
# model 0.88. At 16x16 with 8 epochs (~1 s a model) the subset effect was below the seed-to-seed noise. The spread
# across subsets is 2.8% of the loss (std 0.0033 of 0.114). One subset model: ~10 s wall on a shared core (~6 s CPU).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="Digits2", split="val", size=8)  # the queries
method = dict(
    type="LDSGroundTruth",
    # UNet2DModel: two resolutions (8, 4), no attention, 164k parameters
    unet=dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(16, 32),
              down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
              norm_num_groups=8),
    # 100 timesteps whose linear betas are DDPM's 1000-step 1e-4..0.02 rescaled by 1000/100 (improved-diffusion's
    # get_named_beta_schedule("linear", 100)): ᾱ_T ≈ 5e-5 as with 1000 steps, at a tenth of the loss evaluation's
    # cost; the loss protocol averages all 100 of them (D-TRAK: all 1000 of its model's)
    scheduler=dict(num_train_timesteps=100, beta_schedule="linear", beta_start=1e-3, beta_end=0.2, clip_sample=False),
    query_sets=dict(val=dict(type="Digits2", split="val", size=8), test=dict(type="Digits2", split="test", size=8)),
    num_subsets=64, alpha=0.5, subset_seed=42, seeds=(0,), query_set="val")
# every retrained model's recipe (train_ddpm: AdamW, one-cycle schedule) on its half of the training set; latest.pth
# (the resume point) every 10th epoch: written after each epoch it took a quarter of a model's ~5 s
train = dict(dataset=dict(type="Digits2", split="train", size=8), epochs=40, batch_size=32, lr=3e-3,
             checkpoint_every=10)
task = dict(type="lds_ground_truth")
run = dict(device="cpu")
