# CelebA 64's full-data DDPM (upstream "model" of the CelebA attribution configs) and its 1,000 generated "gen"
# queries (upstream "gen"), trained by the harness: `bench run configs/das/celeba_model.py`. DAS's repo has no CelebA
# code (sheet §5); its paper follows D-TRAK, whose CelebA folder gives: config.json (UNet2DModel, block_out_channels
# [128, 128, 256, 256, 512, 512], Down x4 / AttnDown / Down and Up / AttnUp / Up x4, 2 layers per block, 64 px,
# attention_head_dim 8, flip_sin_to_cos true, freq_shift 0, downsample_padding 1, norm_eps 1e-5) with
# resnet_time_scale_shift="scale_shift" set by CelebA/train_unconditional.py and gen_unconditional.py; run_train.sh
# passes CIFAR-2's flags (200 epochs, batch 128, lr 1e-4, wd 1e-6, random flip, seed 42; the same
# train_unconditional.py recipe, configs/das/_base_/ddpm_recipe.py); its images are CenterCrop(140) -> Resize(64) ->
# CenterCrop(64) of the aligned JPEGs (the CelebA reader's crop); run_gen.sh samples as CIFAR-2's (DDIM 50 steps, image
# i seeded gen_seed·1000 + i). The final model is attributed (40 steps an epoch on 5,000 images, 8,000 in all).
_base_ = ["./cifar2_model.py"]

method = dict(
    unet_config=dict(_delete_=True, sample_size=64, in_channels=3, out_channels=3, layers_per_block=2,
                     block_out_channels=(128, 128, 256, 256, 512, 512),
                     down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D",
                                       "DownBlock2D"),
                     up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D",
                                     "UpBlock2D"),
                     act_fn="silu", attention_head_dim=8, center_input_sample=False, downsample_padding=1,
                     flip_sin_to_cos=True, freq_shift=0, mid_block_scale_factor=1, norm_eps=1e-5, norm_num_groups=32,
                     time_embedding_type="positional", resnet_time_scale_shift="scale_shift"))
train = dict(dataset=dict(_delete_=True, type="CelebA", root="data/celeba", split="train"))
run = dict(batch_size=100)
