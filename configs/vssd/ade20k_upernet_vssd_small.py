# VSSD-Small UperNet 160k, official config `upernet_vssd_4xb4-160k_ade20k-512x512_small.py` (ImageNet weights
# from `model_ema`). The repo lists neither a result nor a checkpoint for it: set method.checkpoint to your own
# trained file; no paper-table cell exists. Needs the `seg` extra.
_base_ = ["./_base_/upernet_ade20k.py"]

method = dict(
    checkpoint="checkpoints/vssd/upernet_vssd_4xb4-160k_ade20k-512x512_small.pth",
    model=dict(backbone=dict(embed_dim=64, depths=(3, 4, 21, 5), num_heads=(2, 4, 8, 16), d_state=64,
                             drop_path_rate=0.4, key="model_ema"),
               decode_head=dict(in_channels=[64, 128, 256, 512]), auxiliary_head=dict(in_channels=256)))
paper = dict(setting=dict(dataset="ADE20K", model="VSSD-Small", method="UperNet", setting="160k"),
             metrics=dict(_delete_=True))  # no reported cell to fill
