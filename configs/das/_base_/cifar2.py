# LDS on CIFAR-2 (automobile, horse; D-TRAK's stratified split: train 5,000, val 1,000 of the test images), the
# protocol of sail-sg/D-TRAK that DAS reuses: every val image attributed to the 5,000 training images at k = 32,768
# (TRAK's projector; the CUDA one where fast_jl is installed) over 10 uniform timesteps, scored by the LDS against
# models retrained on 64 half subsets x 3 seeds.
# The whole chain is in configs (as for ArtBench): the attributed model is configs/das/cifar2_model.py's train
# stage (upstream "model": D-TRAK's UNet and recipe, its checkpoint-8000 = the final model), the ground truth is
# configs/das/lds_cifar2_groundtruth.py (upstream "groundtruth": a RetrainedLosses folder with query sets "val",
# "heldout" = all 2,000 CIFAR-2 test images, of which the 1,000 not in val choose λ, and "gen"). Train them first
# (the ground truth's header: the model, then a sweep over GPUs); `bench run` of this config resolves every upstream
# before attributing, so without them it would train the model and then the 192 ground-truth models one by one.
# Needs data/cifar10: the CIFAR-10 python pickles (cifar-10-batches-py); nothing is downloaded.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CIFAR2", root="data/cifar10", split="val")
method = dict(
    type="DataAttribution", train_set=dict(type="CIFAR2", root="data/cifar10", split="train"),
    model="upstream:model", num_timesteps=10, timestep_strategy="uniform", k=32768, projector_seed=42,
    residual_timesteps=1000, chunk_size=1000, batch_size=16,
    lambda_selection=dict(
        retrained_losses="upstream:groundtruth", query_set="heldout",
        queries=dict(type="CIFAR2", root="data/cifar10", split="test"),
        exclude=dict(type="CIFAR2", root="data/cifar10", split="val"),
        test=dict(query_set="val", queries=dict(type="CIFAR2", root="data/cifar10", split="val"))))
upstream = dict(model=dict(config="das/cifar2_model", product="checkpoint"),
                groundtruth=dict(config="das/lds_cifar2_groundtruth", product="checkpoint"))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="upstream:groundtruth", query_set="val")])
paper = dict(slug="das", table="lds_rerun_ltw", metrics={"LDS": "LDS"}, setting={"dataset": "CIFAR-2"})
run = dict(batch_size=50)
