# The LDS ground truth of CIFAR-10 (D-TRAK's split, datasets/cifar.py CIFAR10Attribution), sail-sg/D-TRAK
# CIFAR10/scripts/run_lds_val_sub.sh + run_eval_lds_val_sub.sh: 64 random half subsets of the 50,000 training images
# (stratified by class, seeds 42 + 2k) x ONE training seed, 1 (both scripts loop `seq 1 1`; the sheet notes the added
# noise), each a DDPM trained afresh by the full-data model's recipe (configs/das/cifar10_model.py) and each query's
# diffusion loss over all 1000 timesteps (noise seeded e_seed·1000 + t, e_seed 0, batch 256), as for CIFAR-2
# (configs/das/lds_cifar2_groundtruth.py, whose sections this config keeps). Query sets: "val" (the 1,000 val
# images), "heldout" (a 2,000-image stratified selection of the test split, CIFAR10Attribution(split="val",
# val_size=2000): the attribution configs choose λ on those of them not in val; all 9,000 other test images would
# cost 9x the val set's loss evaluation per entry) and "gen" (cifar10_model's 1,000 generated images).
# Cost: 64 trainings of 200 epochs on 25,000 images (196 steps an epoch), plus 4,000 queries x 1000 timesteps per
# entry. As a sweep, after training the full-data model:
#   bench run configs/das/cifar10_model.py
#   bench sweep configs/das/lds_cifar10_groundtruth.py --grid "method.subsets=$(seq -s, 0 63)" [--address <head>]
#   bench train configs/das/lds_cifar10_groundtruth.py
_base_ = ["./lds_cifar2_groundtruth.py"]

dataset = dict(_delete_=True, type="CIFAR10Attribution", root="data/cifar10", split="val")
method = dict(
    query_sets=dict(_delete_=True, val=dict(type="CIFAR10Attribution", root="data/cifar10", split="val"),
                    heldout=dict(type="CIFAR10Attribution", root="data/cifar10", split="val", val_size=2000),
                    gen=dict(type="GeneratedImages", run_dir="upstream:gen")),
    seeds=(1,), artefact_dir="attribution/cifar10_lds")
upstream = dict(gen=dict(config="das/cifar10_model", product="run"))
train = dict(dataset=dict(_delete_=True, type="CIFAR10Attribution", root="data/cifar10", split="train"))
