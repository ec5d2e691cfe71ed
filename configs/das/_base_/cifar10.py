# LDS on CIFAR-10 (D-TRAK's split: train all 50,000, val 1,000 of the 10,000 test images, 100 per class), the
# protocol of sail-sg/D-TRAK (CIFAR10/scripts) that DAS reuses: every val image attributed to the 50,000 training
# images at k = 32,768 over 10 uniform timesteps, scored by the LDS against models retrained on 64 half subsets.
# D-TRAK's CIFAR10/scripts/run_lds_val_sub.sh retrains ONE seed per subset (`seq 1 1`; the sheet notes the added
# noise); its grad batch (run_grad.sh) is 52, its loss batch (run_eval_lds_val_sub.sh) 256, as for CIFAR-2.
# Needs (none ships here):
# - checkpoints/das/cifar10_ddpm: the full-data DDPM as a diffusers folder (model_index.json, unet/, scheduler/):
#   D-TRAK's CIFAR10/config.json UNet2DModel (block_out_channels [128, 256, 256, 256], Down/AttnDown/Down/Down,
#   2 layers per block, 32 px; that file sets no resnet_time_scale_shift, i.e. diffusers' "default", while the sheet
#   lists scale_shift for DAS's model), DDPMScheduler(1000, linear), trained by CIFAR10/scripts/run_train.sh
#   (train_unconditional.py: 200 epochs, batch 128, lr 1e-4, AdamW wd 1e-6, random flip, seed 42).
# - results/attribution/cifar10_lds: a RetrainedLosses folder (docs/attribution.md) with query sets "val" (the
#   1,000 val images), "heldout" (the other 9,000 CIFAR-10 test images, or a part of them, to choose λ on) and
#   optionally "gen". D-TRAK's released outputs have val and gen only (bench.tasks.attribution.dtrak_import).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CIFAR10Attribution", root="data/cifar10", split="val")
method = dict(
    type="DataAttribution", train_set=dict(type="CIFAR10Attribution", root="data/cifar10", split="train"),
    model="checkpoints/das/cifar10_ddpm", num_timesteps=10, timestep_strategy="uniform", k=32768, projector_seed=42,
    residual_timesteps=1000, chunk_size=1000, batch_size=16,
    lambda_selection=dict(
        retrained_losses="results/attribution/cifar10_lds", query_set="heldout",
        queries=dict(type="CIFAR10Attribution", root="data/cifar10", split="test"),
        exclude=dict(type="CIFAR10Attribution", root="data/cifar10", split="val"),
        test=dict(query_set="val", queries=dict(type="CIFAR10Attribution", root="data/cifar10", split="val"))))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="results/attribution/cifar10_lds", query_set="val")])
run = dict(batch_size=50)
# No `paper` section: the only CIFAR-10 number on the sheet is DAS's gain over D-TRAK (+12.67, secondary), the
# difference of lds_cifar10_das and lds_cifar10_dtrak, which no single config fills.
