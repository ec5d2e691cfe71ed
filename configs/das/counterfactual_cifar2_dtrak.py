# Counterfactual evaluation of D-TRAK on CIFAR-2: remove each generated query's top 1000 D-TRAK influencers, retrain,
# regenerate; L2 change and CLIP similarity against removing 1000 random images
# (configs/das/_base_/counterfactual_cifar2.py).
_base_ = ["./_base_/counterfactual_cifar2.py"]

upstream = dict(_delete_=True, attribution=dict(config="das/lds_cifar2_dtrak", product="run"),
                model=dict(config="das/cifar2_model", product="checkpoint"))
paper = dict(setting={"method": "D-TRAK"})
