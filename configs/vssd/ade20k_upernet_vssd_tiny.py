# VSSD-Tiny UperNet 160k, official config `upernet_vssd_4xb4-160k_ade20k-512x512_tiny.py`, single scale.
# Checkpoint upernet_vssd_4xb4-160k_ade20k-512x512_tiny.pth (Hugging Face YuhengSSS/VSSD). Needs the `seg` extra.
_base_ = ["./_base_/upernet_ade20k.py"]

method = dict(
    checkpoint="checkpoints/vssd/upernet_vssd_4xb4-160k_ade20k-512x512_tiny.pth",
    model=dict(backbone=dict(embed_dim=64, depths=(2, 4, 8, 4), num_heads=(2, 4, 8, 16), d_state=64,
                             drop_path_rate=0.2),
               decode_head=dict(in_channels=[64, 128, 256, 512]), auxiliary_head=dict(in_channels=256)))
paper = dict(setting=dict(dataset="ADE20K", model="VSSD-Tiny", method="UperNet", setting="160k"))
