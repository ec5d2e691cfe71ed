# DiffAct on 50Salads, the official params_50salads (default_configs.py of Finspire13/DiffAct): sample rate 8,
# decoder kernel 7, snr_scale 1.0, boundary05- / segment=2 masking, median filter 30.
_base_ = ["./diffact.py"]

dataset = dict(type="Salads50", data_root="data/50salads", split=1, subset="test")
task = dict(type="action_segmentation", class_names="data/50salads/mapping.txt", background=["background"])
method = dict(
    type="DiffAct", num_classes=19, sample_rate=8, temporal_aug=True, set_sampling_seed=True,
    encoder_params=dict(use_instance_norm=False, num_layers=10, num_f_maps=64, input_dim=2048, kernel_size=5,
                        normal_dropout_rate=0.5, channel_dropout_rate=0.5, temporal_dropout_rate=0.5,
                        feature_layer_indices=[5, 7, 9]),
    decoder_params=dict(num_layers=8, num_f_maps=24, time_emb_dim=512, kernel_size=7, dropout_rate=0.1),
    diffusion_params=dict(timesteps=1000, sampling_timesteps=25, ddim_sampling_eta=1.0, snr_scale=1.0,
                          cond_types=["full", "zero", "boundary05-", "segment=2", "segment=2"],
                          detach_decoder=False),
    postprocess=dict(type="median", value=30),
)
