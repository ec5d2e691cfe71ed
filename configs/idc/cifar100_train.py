# IDC trained here on CIFAR-100 as Template-IDC-cifar100.yaml: 600 epochs, RandomHorizontalFlip + RandomRotation(15),
# Adam 1e-4, batch 256 in one process with 2 accumulated batches, StepLR (500 epochs, gamma 0.5; the template's
# auto_lr_scheduler is off), EMA 0.995 every 8 optimiser steps from step 30,000; evaluated clean on the test split.
_base_ = ["./_base_/cifar100.py", "../_base_/tasks/classification.py"]

method = dict(checkpoint=None)
train = dict(dataset=dict(type="CIFAR100", root="data/cifar", split="train_full"), epochs=600, batch_size=256,
             lr=1e-4, beta1=0.9, weight_decay=0.0, accumulate_grad_batches=2,
             ema=dict(decay=0.995, interval=8, start_step=30000),
             lr_scheduler=dict(type="StepLR", step_size=500, gamma=0.5), augment="flip_rotate", seed=0)
