# The IDC demo's CNN peer: timm's resnet10t narrowed to channels (32, 64, 128, 160) (781,330 parameters, next to
# the demo IDC's 777,187) trained on the same digits, upsampled to 16x16, and attacked through the same robustness
# task with the same FGSM and PGD settings on its logits (a CNN has one view, so pgd_logits repeats pgd with
# another random start). A first try with mobilenetv2_050 (700,202 parameters) reached only 50.6% clean accuracy
# on these 16x16 inputs after 30 epochs, no fair peer.
_base_ = ["../../_base_/default_run.py", "../../_base_/datasets/digits.py"]

method = dict(type="TimmClassifier", model_name="resnet10t", num_classes=10, in_chans=1, input_size=16,
              mean=0.5, std=0.5, model_kwargs=dict(channels=(32, 64, 128, 160)))
train = dict(dataset=dict(type="Digits", split="train", split_seed=0), epochs=15, batch_size=64, lr=3e-3,
             weight_decay=0.01, seed=0)
task = dict(type="robustness", view="logits", num_classes=10, attacks=dict(
    fgsm=dict(type="FGSM", eps=0.05),
    pgd=dict(type="PGD", eps=0.05, alpha=0.0125, steps=10, random_start=True),
    pgd_logits=dict(type="PGD", eps=0.05, alpha=0.0125, steps=10, random_start=True)))
run = dict(batch_size=100)
