# CIFAR-10's full-data DDPM (upstream "model" of the CIFAR-10 attribution configs) and its 1,000 generated "gen"
# queries (upstream "gen"), trained by the harness: `bench run configs/das/cifar10_model.py`. sail-sg/D-TRAK
# CIFAR10/config.json is CIFAR2/config.json byte for byte, and CIFAR10/train_unconditional.py and gen_unconditional.py
# set resnet_time_scale_shift="scale_shift" on it as CIFAR-2's do; CIFAR10/scripts/run_train.sh passes CIFAR-2's flags
# (200 epochs, batch 128, lr 1e-4, wd 1e-6, random flip, seed 42) and run_gen.sh CIFAR-2's sampling (DDIM 50 steps,
# image i seeded gen_seed·1000 + i): so this is configs/das/cifar2_model.py on all 50,000 training images
# (391 steps an epoch, 78,200 in all). D-TRAK's README names no CIFAR-10 checkpoint; the final model is attributed, as
# checkpoint-8000 is CIFAR-2's final one.
_base_ = ["./cifar2_model.py"]

train = dict(dataset=dict(_delete_=True, type="CIFAR10Attribution", root="data/cifar10", split="train"))
