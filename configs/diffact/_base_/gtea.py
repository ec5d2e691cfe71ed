# DiffAct on GTEA, the official params_gtea (default_configs.py of Finspire13/DiffAct). Leaves set the split,
# the checkpoint (released model) or the train section's split, and the table cell.
_base_ = ["./diffact.py"]

dataset = dict(type="GTEA", data_root="data/gtea", split=1, subset="test")
task = dict(type="action_segmentation", class_names="data/gtea/mapping.txt", background=["background"])
method = dict(
    type="DiffAct", num_classes=11, sample_rate=1, temporal_aug=True, set_sampling_seed=True,
    encoder_params=dict(use_instance_norm=False, num_layers=10, num_f_maps=64, input_dim=2048, kernel_size=5,
                        normal_dropout_rate=0.5, channel_dropout_rate=0.5, temporal_dropout_rate=0.5,
                        feature_layer_indices=[5, 7, 9]),
    decoder_params=dict(num_layers=8, num_f_maps=24, time_emb_dim=512, kernel_size=5, dropout_rate=0.1),
    diffusion_params=dict(timesteps=1000, sampling_timesteps=25, ddim_sampling_eta=1.0, snr_scale=0.5,
                          cond_types=["full", "zero", "boundary03-", "segment=1", "segment=1"],
                          detach_decoder=False),
    postprocess=dict(type="purge", value=3),
)
