# IDC CIFAR100: clean accuracy and robust accuracy under the official attack suite (PGD-20, FGSM, MI-FGSM, CW-L2,
# torchattacks AutoAttack) against the official wrapper; params/GMACs of the attacked model alongside.
_base_ = ["./_base_/cifar100.py", "./_base_/paper_attacks.py"]

task = dict(num_classes=100)
# the attacked model's parameter count fills the sheet's derived Params cell
paper = dict(slug="idc", table="params_derived", setting={"dataset": "CIFAR-100", "model": "IDC U-Net"},
             metrics={"Params": "params (M)"})
