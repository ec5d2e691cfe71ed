# The quick IDC demo's CNN peer (the full one is demo/full/idc_peer_cnn.py): the same narrowed resnet10t
# (781,330 parameters, next to IDC's 777,187) on the digits at their native 8x8, attacked on the same 100 test
# images with the same FGSM and PGD-5 on its logits.
_base_ = ["full/idc_peer_cnn.py"]

dataset = dict(val_size=697)
method = dict(input_size=8)
task = dict(attacks=dict(_delete_=True, fgsm=dict(type="FGSM", eps=0.05),
                         pgd=dict(type="PGD", eps=0.05, alpha=0.0125, steps=5, random_start=True)))
