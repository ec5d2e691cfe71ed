# Demo: DiffTriplet trained for real on CPU on generated "surgical" videos written in the CholecT45 layout
# (GeneratedSurgicalVideos: 3 videos of each official fold, 60-120 frames, 48-d features in which instruments,
# verbs and targets are clearly visible but which triplet of an instrument is active only faintly). Fold 1: 12
# training videos, 3 test videos. The run scores the guided sampler and, with the same seeds, the unguided one
# (unguided_* metrics) and the encoder (encoder_*), so association guidance is compared on one trained model.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GeneratedSurgicalVideos", split="cv", fold=1, subset="test")
task = dict(type="triplet_recognition",
            metrics=[dict(type="TripletRecognitionAP"),
                     dict(type="TripletRecognitionAP", prediction_key="unguided_triplet_scores", prefix="unguided_"),
                     dict(type="TripletRecognitionAP", prediction_key="encoder_triplet_scores", prefix="encoder_")])
method = dict(
    type="DiffTriplet", causal=False, inference="decoder", set_sampling_seed=True, compare_unguided=True,
    encoder_outputs=True, guidance=dict(scale=1.0, components=["i", "v", "t"]),
    encoder_params=dict(use_instance_norm=False, num_layers=4, num_f_maps=32, input_dim=48, kernel_size=5,
                        normal_dropout_rate=0.1, channel_dropout_rate=0.3, temporal_dropout_rate=0.3,
                        feature_layer_indices=[1, 2, 3]),
    decoder_params=dict(num_layers=4, num_f_maps=32, time_emb_dim=64, kernel_size=5, dropout_rate=0.1),
    diffusion_params=dict(timesteps=1000, sampling_timesteps=8, ddim_sampling_eta=1.0, snr_scale=1.0,
                          cond_types=["full", "full", "zero"]),
)
train = dict(
    dataset=dict(type="GeneratedSurgicalVideos", split="cv", fold=1, subset="train"),
    epochs=150, batch_size=1, lr=1e-3, weight_decay=1e-5, class_weighting=["ivt", "i", "v", "t"], seed=0,
    loss_weights={"encoder_bce_loss": 0.5, "decoder_bce_loss": 0.5})
run = dict(batch_size=1, num_workers=0)
