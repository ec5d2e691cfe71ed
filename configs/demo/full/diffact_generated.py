# Demo: DiffAct trained for real on CPU (under a minute) on generated breakfast-like videos written in the MS-TCN
# layout (GeneratedActionVideos: 12 videos, 9 classes, 64-d noisy features; split 1 = 8 train / 4 test videos).
# A small model with the official GTEA recipe (masking types, losses, soft labels, purge post-processing). The
# run also scores the encoder's own prediction (encoder_* metrics): the paper's claim is that the decoder helps.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GeneratedActionVideos", subset="test", split=1)
# the generator's class names (GENERATED_CLASSES), for the exact-name background rule
task = dict(type="action_segmentation", background=["background"],
            class_names=["background", "take_bowl", "pour_cereals", "pour_milk", "stir", "take_cup", "pour_coffee",
                         "add_sugar", "drink"],
            metrics=[dict(type="ActionSegmentationScores"),
                     dict(type="ActionSegmentationScores", prediction_key="encoder_prediction", prefix="encoder_")])
method = dict(
    type="DiffAct", num_classes=9, sample_rate=1, temporal_aug=True, set_sampling_seed=True, encoder_outputs=True,
    encoder_params=dict(use_instance_norm=False, num_layers=6, num_f_maps=32, input_dim=64, kernel_size=5,
                        normal_dropout_rate=0.5, channel_dropout_rate=0.3, temporal_dropout_rate=0.3,
                        feature_layer_indices=[3, 4, 5]),
    decoder_params=dict(num_layers=4, num_f_maps=16, time_emb_dim=128, kernel_size=5, dropout_rate=0.1),
    diffusion_params=dict(timesteps=1000, sampling_timesteps=25, ddim_sampling_eta=1.0, snr_scale=0.5,
                          cond_types=["full", "zero", "boundary03-", "segment=1", "segment=1"]),
    postprocess=dict(type="purge", value=3),
)
train = dict(
    dataset=dict(type="GeneratedActionVideos", subset="train", split=1),
    epochs=120, batch_size=1, lr=1e-3, weight_decay=1e-6, class_weighting=True, soft_label=1.4, boundary_smooth=1,
    seed=0,
    loss_weights={"encoder_ce_loss": 0.5, "encoder_mse_loss": 0.1, "encoder_boundary_loss": 0.0,
                  "decoder_ce_loss": 0.5, "decoder_mse_loss": 0.1, "decoder_boundary_loss": 0.1})
run = dict(batch_size=1, num_workers=0)
