# IDC CIFAR10: BPDA+EOT as IDC-BPDA/test_bpda_cifar10.sh runs it (eps 0.031373, 50 steps of 2/255, EOT 15 attack /
# 150 defence draws averaged as logits, adv_batch_size 2). The script's model returns softmax(-d/0.1) and
# re-seeds the global RNG after every forward, which freezes its sampling noise between forwards: view "paper".
_base_ = ["./_base_/cifar10.py"]

task = dict(type="robustness", view="paper", num_classes=10, attacks=dict(
    bpda_eot=dict(type="BPDAEOT", eps=0.031373, alpha=2 / 255, steps=50, eot_attack_reps=15, eot_defense_reps=150)))
run = dict(batch_size=2)
