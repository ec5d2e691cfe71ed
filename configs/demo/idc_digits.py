# IDC demo on scikit-learn's digits: the 8x8 digits upsampled to 32x32 (bilinear, grey repeated to 3 channels) and
# translated by the Brownian bridge (4 steps, official schedule, eta 1) into one of 10 seeded QR label images. The
# U-Net is the official pruned design at demo width (model_channels 32, channel_mult (1, 2), dropout 0.3: 777,187
# parameters),
# trained here with L_intra + 0.2 L_inter (Adam 1e-4 x 10 for a short run, 2 accumulated batches, EMA 0.995
# from step 200). Evaluated on the test split: clean accuracy, then PGD and FGSM at a small eps on the digits'
# own pixels, against the official wrapper (view "paper": softmax(-d/0.1), frozen noise) and, for PGD, the
# stochastic log-probability view as well (pgd_logits).
_base_ = ["../_base_/default_run.py", "../_base_/datasets/digits.py"]

method = dict(type="IDC", num_classes=10, preset=None, input_size=32, channels=3,
              unet=dict(image_size=32, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=1,
                        attention_resolutions=(32, 16, 8), channel_mult=(1, 2), num_heads=4, num_head_channels=32,
                        use_scale_shift_norm=True, resblock_updown=True, dropout=0.3))
train = dict(dataset=dict(type="Digits", split="train", split_seed=0), epochs=30, batch_size=32, lr=1e-3,
             beta1=0.9, weight_decay=0.0, accumulate_grad_batches=2, ema=dict(decay=0.995, interval=1, start_step=200),
             lr_scheduler=None, augment="none", seed=0)
task = dict(type="robustness", view="paper", num_classes=10, attacks=dict(
    fgsm=dict(type="FGSM", eps=0.05),
    pgd=dict(type="PGD", eps=0.05, alpha=0.0125, steps=10, random_start=True),
    pgd_logits=dict(type="PGD", eps=0.05, alpha=0.0125, steps=10, random_start=True, view="logits")))
run = dict(batch_size=100)
