# LDS on CIFAR-2 (automobile, horse; D-TRAK's stratified split: train 5,000, val 1,000 of the test images), the
# protocol of sail-sg/D-TRAK that DAS reuses: every val image attributed to the 5,000 training images at k = 32,768
# (TRAK's projector; the CUDA one where fast_jl is installed) over 10 uniform timesteps, scored by the LDS against
# models retrained on 64 half subsets x 3 seeds.
# Needs (none ships here):
# - checkpoints/das/cifar2_ddpm: the full-data DDPM as a diffusers folder (model_index.json, unet/, scheduler/):
#   UNet2DModel [128, 256, 256, 256], Down/AttnDown/Down/Down, 2 layers per block, scale_shift, trained by the
#   official recipe (D-TRAK's train_unconditional.py, 200 epochs, batch 128, lr 1e-4; D-TRAK uses checkpoint-8000).
# - results/attribution/cifar2_lds: a RetrainedLosses folder (docs/attribution.md) with query sets "val" (the
#   1,000 val images), "heldout" (the other 1,000 CIFAR-2 test images, to choose λ on) and optionally "gen".
#   D-TRAK's released outputs have val and gen only (import with bench.tasks.attribution.dtrak_import); the heldout
#   set needs its retrained models evaluated on those images too.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CIFAR2", root="data/cifar10", split="val")
method = dict(
    type="DataAttribution", train_set=dict(type="CIFAR2", root="data/cifar10", split="train"),
    model="checkpoints/das/cifar2_ddpm", num_timesteps=10, timestep_strategy="uniform", k=32768, projector_seed=42,
    residual_timesteps=1000, chunk_size=1000, batch_size=16,
    lambda_selection=dict(
        retrained_losses="results/attribution/cifar2_lds", query_set="heldout",
        queries=dict(type="CIFAR2", root="data/cifar10", split="test"),
        exclude=dict(type="CIFAR2", root="data/cifar10", split="val"),
        test=dict(query_set="val", queries=dict(type="CIFAR2", root="data/cifar10", split="val"))))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="results/attribution/cifar2_lds", query_set="val")])
paper = dict(slug="das", table="lds_rerun_ltw", metrics={"LDS": "LDS"}, setting={"dataset": "CIFAR-2"})
run = dict(batch_size=50)
