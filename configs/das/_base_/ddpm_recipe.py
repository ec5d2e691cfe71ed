# D-TRAK's pixel-DDPM training recipe (sail-sg/D-TRAK), shared by the full-data model, every retrained LDS model and
# every counterfactual retraining of CIFAR-2, CIFAR-10 and CelebA (their scripts/run_train.sh, run_lds_val_sub.sh and
# run_counter.sh pass the same flags; train_unconditional.py is the same file in the three folders):
# - run_train.sh: --num_epochs=200 --train_batch_size=128 --learning_rate=1e-4 --adam_weight_decay=1e-6
#   --random_flip --center_crop (a no-op at the datasets' own size) --gradient_accumulation_steps=1 --seed=42
#   (the retrained models take their entry's seed instead).
# - train_unconditional.py: AdamW betas (0.95, 0.999) (its --adam_beta1 default 0.95, not torch's 0.9), eps 1e-8;
#   lr_scheduler "cosine" (diffusers get_scheduler) whose --lr_warmup_steps is overwritten with ceil(10% of all
#   steps); gradients clipped to norm 1 (accelerator.clip_grad_norm_); no EMA (--use_ema not passed); every
#   torch.nn.Dropout of the UNet set to p = 0.1 after building it; images Normalize([0.5], [0.5]) to [-1, 1]; ε
#   prediction, MSE against the noise, t uniform over the 1000 steps (DDPMScheduler(1000, "linear")).
# - checkpointing: --checkpointing_steps=-1 means every 1% of the steps; CIFAR-2 has ceil(5000 / 128) = 40 steps an
#   epoch, so D-TRAK's attributed `ddpm/checkpoint-8000` (README, run_grad.sh) is step 8000 = the end of epoch 200:
#   the final model, which is what the train stage returns. latest.pth (the resume point) is written every 5th epoch.
train = dict(epochs=200, batch_size=128, lr=1e-4, lr_schedule="cosine", warmup_fraction=0.1, weight_decay=1e-6,
             adam_betas=(0.95, 0.999), adam_epsilon=1e-8, max_grad_norm=1.0, random_flip=True, dropout=0.1,
             seed=42, checkpoint_every=5)
