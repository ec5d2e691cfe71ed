# CIFAR-2's full-data DDPM (the model every CIFAR-2 attribution config attributes: upstream "model", product
# checkpoint) and D-TRAK's 1,000 generated "gen" queries (upstream "gen", product run), trained by the harness:
#   bench run configs/das/cifar2_model.py      # train stage: 200 epochs on the 5,000 CIFAR-2 training images
# The UNet is sail-sg/D-TRAK CIFAR2/config.json (UNet2DModel, block_out_channels [128, 256, 256, 256],
# Down/AttnDown/Down/Down and Up/AttnUp/Up/Up, so attention at 16x16 only, 2 layers per block, 32 px, one attention
# head (attention_head_dim null), freq_shift 1, norm_eps 1e-6) with resnet_time_scale_shift="scale_shift", which
# CIFAR2/train_unconditional.py and gen_unconditional.py set on top of the file; 38.3M parameters. Noise schedule:
# DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear"), betas 1e-4..0.02 (the script's defaults
# --ddpm_num_steps 1000, --ddpm_beta_schedule linear). Recipe: configs/das/_base_/ddpm_recipe.py (200 epochs, batch
# 128, lr 1e-4 cosine with 10% warm-up, AdamW wd 1e-6, random flip, dropout 0.1, grad clip 1, seed 42).
# Gen queries (CIFAR2/gen_unconditional.py, run_gen.sh with gen_seed 0): DDIMPipeline built on the training
# DDPMScheduler (so DDIMScheduler.from_config of it: clip_sample True, the DDPM default), 50 steps, eta 0 (the
# DDIM step's default here), image i drawn by its own CPU generator seeded gen_seed·1000 + i (index_seeds 0), saved
# as uint8 PNGs 0.png..999.png. The run stores them as uint8 too (task image_format png); GeneratedImages reads them
# back with ids gen-<i>.
_base_ = ["../_base_/default_run.py", "./_base_/ddpm_recipe.py"]

dataset = dict(type="GenerationRequests", num_samples=1000)
method = dict(
    type="DiffusionSampler",
    unet_config=dict(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
                     block_out_channels=(128, 256, 256, 256),
                     down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                     up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                     act_fn="silu", attention_head_dim=None, center_input_sample=False, downsample_padding=0,
                     flip_sin_to_cos=False, freq_shift=1, mid_block_scale_factor=1, norm_eps=1e-6, norm_num_groups=32,
                     time_embedding_type="positional", resnet_time_scale_shift="scale_shift"),
    train_scheduler=dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
    scheduler=dict(type="DDIMScheduler", clip_sample=True), num_inference_steps=50, index_seeds=0 * 1000)
train = dict(dataset=dict(type="CIFAR2", root="data/cifar10", split="train"))
# no extractor and no reference statistics: the images are queries, not scored for quality
task = dict(type="generation", extractor=None, metrics=[], image_format="png")
run = dict(batch_size=250)
