# IDC trained here on CIFAR-10 as Template-IDC-cifar10.yaml: 400 epochs of the 50,000 training images, no
# augmentation, Adam 1e-4 (beta1 0.9), L_intra + 0.2 L_inter, batch 256 in one process (the official 64 x 4 GPUs,
# whose DDP gradient is the mean over 256) with 2 accumulated batches, ReduceLROnPlateau on the step loss
# (factor 0.5, patience 3000, cooldown 3000, threshold 1e-4, min_lr 5e-7), EMA 0.995 every 8 optimiser steps from
# step 30,000; then evaluated clean on the test split with the EMA weights.
_base_ = ["./_base_/cifar10.py", "../_base_/tasks/classification.py"]

method = dict(checkpoint=None)
train = dict(dataset=dict(type="CIFAR10", root="data/cifar", split="train_full"), epochs=400, batch_size=256,
             lr=1e-4, beta1=0.9, weight_decay=0.0, accumulate_grad_batches=2,
             ema=dict(decay=0.995, interval=8, start_step=30000),
             lr_scheduler=dict(type="ReduceLROnPlateau", factor=0.5, patience=3000, threshold=1e-4, cooldown=3000,
                               min_lr=5e-7), augment="none", seed=0)
