# DiffAct on Breakfast, the official params_breakfast (default_configs.py of Finspire13/DiffAct): a wider encoder
# (12 layers, 256 maps), features from layers 7-9, decoder 128 maps, median filter 15. Breakfast's background
# label is "SIL", which the official evaluation does NOT exclude (only the exact name "background" is).
_base_ = ["./diffact.py"]

dataset = dict(type="Breakfast", data_root="data/breakfast", split=1, subset="test")
task = dict(type="action_segmentation", class_names="data/breakfast/mapping.txt", background=["background"])
method = dict(
    type="DiffAct", num_classes=48, sample_rate=1, temporal_aug=True, set_sampling_seed=True,
    encoder_params=dict(use_instance_norm=False, num_layers=12, num_f_maps=256, input_dim=2048, kernel_size=5,
                        normal_dropout_rate=0.5, channel_dropout_rate=0.1, temporal_dropout_rate=0.1,
                        feature_layer_indices=[7, 8, 9]),
    decoder_params=dict(num_layers=8, num_f_maps=128, time_emb_dim=512, kernel_size=5, dropout_rate=0.1),
    diffusion_params=dict(timesteps=1000, sampling_timesteps=25, ddim_sampling_eta=1.0, snr_scale=0.5,
                          cond_types=["full", "zero", "boundary03-", "segment=1", "segment=1"],
                          detach_decoder=False),
    postprocess=dict(type="median", value=15),
)
