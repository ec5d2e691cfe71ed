# AMG pixel branch, Table 3: class-conditional CIFAR-10. No checkpoint was released: the train stage trains one
# with improved-diffusion's recipe and the CIFAR-10 flags plus class_cond (hybrid loss, AdamW lr 1e-4, batch 128,
# EMA 0.9999, dropout 0.3; 500k iterations as the paper, ~2 GPU-weeks: not run here). Samples cycle through the
# classes (sample_index % 10, as image_sample_guided.py). Everything else as Table 2.
_base_ = ["./cifar10_uncond.py"]

dataset = dict(num_classes=10, labels="balanced")
method = dict(
    _delete_=True, type="AMGPixelSampler", respacing="250", clip_denoised=True, rounding="guided_diffusion",
    model_flags=dict(kind="diffusion", image_size=32, in_channels=3, model_channels=128, out_channels=6,
                     num_res_blocks=3, attention_resolutions=(2, 4), dropout=0.3, channel_mult=(1, 2, 2, 2),
                     num_classes=10, num_heads=4, use_scale_shift_norm=True),
    diffusion=dict(steps=4000, noise_schedule="cosine", learn_sigma=True, rescale_timesteps=True),
    neighbours=dict(pool=dict(type="CIFAR10", root="data/cifar10", split="train_full"), dedup=1.0))
# 500k iterations at batch 128 over 50,000 images = 1280 epochs
train = dict(dataset=dict(type="CIFAR10", root="data/cifar10", split="train_full"), epochs=1280, batch_size=128,
             lr=1e-4, weight_decay=0.0, ema_rate=0.9999, seed=0)
paper = dict(table="main_cifar10_cond", setting={"model": "iDDPM (class-conditional)"})
