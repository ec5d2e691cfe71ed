"""The tiny IDC U-Net the IDC tests share: official design (middle-block attention, scale-shift norm, resblock
up/down) at 8x8 with one resolution level, so a forward pass takes milliseconds."""

TINY_UNET = dict(image_size=8, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=1,
                 attention_resolutions=(32, 16, 8), channel_mult=(1,), num_heads=1, use_scale_shift_norm=True,
                 resblock_updown=True)
