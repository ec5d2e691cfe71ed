# The ArtBench LoRA recipe of sail-sg/D-TRAK (ArtBench2/scripts/run_train.sh for the full-data LoRA, run_lds_val_sub.sh
# for the retrained ones; ArtBench5's scripts are the same), as methods/das/lora_train.py reads it: rank-128 LoRA
# (alpha 128) on to_q/to_k/to_v/to_out.0 of every attention layer of miniSD's UNet, 100 epochs of batch 64 (the sheet
# says 128; the scripts pass 64), AdamW lr 3e-4 (betas 0.9/0.999, eps 1e-8, weight decay 1e-6) with diffusers' cosine
# schedule after a linear warm-up over 10% of the steps (train_text_to_image_lora.py overrides --lr_warmup_steps with
# ceil(0.1 x steps)), gradients clipped to norm 1, fp16 mixed precision (torch.autocast on CUDA; CPU trains in fp32),
# 256 px images (the ArtBench reader's Resize + CenterCrop) flipped at random, VAE latent_dist.sample() x
# scaling_factor, the caption "a {style} painting" replaced by "" with probability 0.1, attention dropout 0.1, no
# noise offset, seed 42 (the retrained LoRAs take their entry's seed 0, 1 or 2 instead).
train = dict(epochs=100, batch_size=64, lr=3e-4, lr_schedule="cosine", warmup_fraction=0.1, weight_decay=1e-6,
             adam_betas=(0.9, 0.999), adam_epsilon=1e-8, max_grad_norm=1.0, caption_dropout=0.1,
             attention_dropout=0.1, random_flip=True, precision="fp16", seed=42)
