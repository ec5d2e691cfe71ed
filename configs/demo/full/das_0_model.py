# DAS demo (full profile: `bench demo --full --only das`), step 0: the full-data model of digits-2 and its
# generated queries. The train stage fits the tiny DDPM (configs/das/_base_/digits2.py's recipe: UNet2DModel with
# channels 16/32, no attention, 100 linear-beta timesteps, 40 epochs of batch 32 at lr 3e-3, seed 0) on the 240
# training digits: the model every attribution config attributes (upstream "model", product checkpoint). The run
# samples the "gen" query set from it as D-TRAK's gen_unconditional.py does for CIFAR-2 (sail-sg/D-TRAK): DDIM, 50
# steps, eta 0, x0 clipped (its DDIMScheduler comes from a default DDPMScheduler config, clip_sample=True), image i
# seeded gen_seed·1000 + i with gen_seed 0 (index_seeds); 60 images here (D-TRAK: 1,000), as many as the val
# queries, each quantised to uint8 like D-TRAK's saved PNGs. The ground truth (das_0_groundtruth) and the gen
# attribution configs (das_2_*_gen) read them with GeneratedImages (upstream "gen", product run).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=60)
method = dict(
    type="DiffusionSampler",
    unet_config=dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(16, 32),
                     down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                     norm_num_groups=8),
    train_scheduler=dict(num_train_timesteps=100, beta_schedule="linear", beta_start=1e-3, beta_end=0.2,
                         clip_sample=False),
    scheduler=dict(type="DDIMScheduler", clip_sample=True), num_inference_steps=50, index_seeds=0 * 1000)
train = dict(dataset=dict(type="Digits2", split="train", size=8), epochs=40, batch_size=32, lr=3e-3, seed=0,
             checkpoint_every=10)
# no extractor and no reference statistics: the images are queries, not scored (the PNGs and the grid show them)
task = dict(type="generation", extractor=None, metrics=[], image_format="png")
run = dict(batch_size=60)
