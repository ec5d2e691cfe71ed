# IDC CIFAR10: clean accuracy and robust accuracy under the official attack suite (PGD-20, FGSM, MI-FGSM, CW-L2,
# torchattacks AutoAttack) against the official wrapper; params/GMACs of the attacked model alongside.
_base_ = ["./_base_/cifar10.py", "./_base_/paper_attacks.py"]

task = dict(num_classes=10)
# the attacked model's parameter count fills the sheet's derived Params cell
paper = dict(slug="idc", table="params_derived", setting={"dataset": "CIFAR-10", "model": "IDC U-Net"},
             metrics={"Params": "params (M)"})
