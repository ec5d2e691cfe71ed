# IDC CIFAR100: the strong evaluation (log-probabilities as logits, fresh noise per forward; original-strength
# AutoAttack standard and rand, EOT-PGD, BPDA+EOT).
_base_ = ["./_base_/cifar100.py", "./_base_/strong_attacks.py"]

task = dict(num_classes=100)
