# LDS on CIFAR-10 (D-TRAK's split: train all 50,000, val 1,000 of the 10,000 test images, 100 per class), the
# protocol of sail-sg/D-TRAK (CIFAR10/scripts) that DAS reuses: every val image attributed to the 50,000 training
# images at k = 32,768 over 10 uniform timesteps, scored by the LDS against models retrained on 64 half subsets.
# D-TRAK's CIFAR10/scripts/run_lds_val_sub.sh retrains ONE seed per subset (`seq 1 1`; the sheet notes the added
# noise); its grad batch (run_grad.sh) is 52, its loss batch (run_eval_lds_val_sub.sh) 256, as for CIFAR-2.
# The chain is in configs as for CIFAR-2 (configs/das/_base_/cifar2.py): the attributed model is
# configs/das/cifar10_model.py's train stage (upstream "model": D-TRAK's CIFAR10/config.json UNet, which is CIFAR-2's,
# with the resnet_time_scale_shift="scale_shift" its train_unconditional.py sets, and CIFAR-2's recipe), the ground
# truth configs/das/lds_cifar10_groundtruth.py (upstream "groundtruth": query sets "val", "heldout" = a 2,000-image
# stratified test selection whose images not in val choose λ, and "gen"); train both first (its header).
# Needs data/cifar10 (the CIFAR-10 python pickles).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CIFAR10Attribution", root="data/cifar10", split="val")
method = dict(
    type="DataAttribution", train_set=dict(type="CIFAR10Attribution", root="data/cifar10", split="train"),
    model="upstream:model", num_timesteps=10, timestep_strategy="uniform", k=32768, projector_seed=42,
    residual_timesteps=1000, chunk_size=1000, batch_size=16,
    lambda_selection=dict(
        retrained_losses="upstream:groundtruth", query_set="heldout",
        queries=dict(type="CIFAR10Attribution", root="data/cifar10", split="val", val_size=2000),
        exclude=dict(type="CIFAR10Attribution", root="data/cifar10", split="val"),
        test=dict(query_set="val", queries=dict(type="CIFAR10Attribution", root="data/cifar10", split="val"))))
upstream = dict(model=dict(config="das/cifar10_model", product="checkpoint"),
                groundtruth=dict(config="das/lds_cifar10_groundtruth", product="checkpoint"))
task = dict(type="data_attribution",
            metrics=[dict(type="LDS", retrained_losses="upstream:groundtruth", query_set="val")])
run = dict(batch_size=50)
# No `paper` section: the only CIFAR-10 number on the sheet is DAS's gain over D-TRAK (+12.67, secondary), the
# difference of lds_cifar10_das and lds_cifar10_dtrak, which no single config fills.
