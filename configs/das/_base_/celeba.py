# LDS on CelebA 64 (D-TRAK's split: 5,000 train images of partition 0, 1,000 val images of partition 1, chosen by
# sklearn train_test_split(random_state=42); DAS's repo has no CelebA code, its paper follows D-TRAK): every val image
# attributed to the 5,000 training images at k = 32,768 over 10 uniform timesteps, scored by the LDS against models
# retrained on 64 half subsets x 3 seeds (D-TRAK CelebA/scripts/run_lds_val_sub.sh: `seq 0 2`).
# D-TRAK's CelebA grad batch (run_grad.sh) is 16, so TRAK / D-TRAK features repeat their noise every 16 samples
# (noise_batch=16 below; DAS's 03_grad.sh default is 16 too); the loss batch (run_eval_lds_val_sub.sh) is 256.
# The chain is in configs as for CIFAR-2 (configs/das/_base_/cifar2.py): the attributed model is
# configs/das/celeba_model.py's train stage (upstream "model": D-TRAK's CelebA/config.json UNet with scale_shift,
# CIFAR-2's recipe, CenterCrop(140) -> Resize(64) -> CenterCrop(64) images), the ground truth
# configs/das/lds_celeba_groundtruth.py (upstream "groundtruth": query sets "val", "heldout" = CelebA(split="val",
# val_size=2000), of which the images not in val choose λ, and "gen"); train both first (its header).
# Needs data/celeba (list_eval_partition.txt and img_align_celeba/, datasets/celeba.py).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CelebA", root="data/celeba", split="val")
method = dict(
    type="DataAttribution", train_set=dict(type="CelebA", root="data/celeba", split="train"),
    model="upstream:model", num_timesteps=10, timestep_strategy="uniform", k=32768, projector_seed=42,
    noise_batch=16, residual_timesteps=1000, chunk_size=1000, batch_size=16,
    lambda_selection=dict(
        retrained_losses="upstream:groundtruth", query_set="heldout",
        queries=dict(type="CelebA", root="data/celeba", split="val", val_size=2000),
        exclude=dict(type="CelebA", root="data/celeba", split="val"),
        test=dict(query_set="val", queries=dict(type="CelebA", root="data/celeba", split="val"))))
upstream = dict(model=dict(config="das/celeba_model", product="checkpoint"),
                groundtruth=dict(config="das/lds_celeba_groundtruth", product="checkpoint"))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="upstream:groundtruth", query_set="val")])
run = dict(batch_size=50)
# No `paper` section: the only CelebA number on the sheet is DAS's gain over D-TRAK (+5.1, secondary), a difference
# of two runs that no single config fills.
