# Table 5, baseline: plain sampling of the unconditional model.
_base_ = ["./_base_/cifar10_uncond.py"]

paper = dict(table="ablation_schedule", setting={"method": "baseline"},
             metrics={"_delete_": True, "nL2 Top5%": "nL2 p5", "% nL2<1.4": dict(key="nL2 <1.4", scale=100),
                      "FID": "FID"})
