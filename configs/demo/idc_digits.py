# Quick IDC demo (the full one is demo/full/idc_digits.py): the same Brownian-bridge translation into 10 seeded QR
# label images, at the digits' native 8x8 (grey repeated to 3 channels) with a U-Net half as wide
# (model_channels 16), trained 16 epochs, and attacked on the last 100 of the full demo's 500 test images
# (val_size 697) with FGSM and PGD-5 at eps 0.05 against the official wrapper (view "paper").
_base_ = ["full/idc_digits.py"]

dataset = dict(val_size=697)
method = dict(input_size=8, unet=dict(image_size=8))
train = dict(epochs=6)
task = dict(attacks=dict(_delete_=True, fgsm=dict(type="FGSM", eps=0.05),
                         pgd=dict(type="PGD", eps=0.05, alpha=0.0125, steps=5, random_start=True)))
