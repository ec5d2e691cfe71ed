# Official Breakfast training (num_epochs 1001, log_freq 20); val_dataset is the TEST split (see gtea_train.py).
train = dict(
    dataset=dict(type="Breakfast", data_root="data/breakfast", split=1, subset="train"),
    val_dataset=dict(type="Breakfast", data_root="data/breakfast", split=1, subset="test"),
    epochs=1001, batch_size=4, lr=1e-4, weight_decay=0.0, class_weighting=True, soft_label=4,
    boundary_smooth=3, eval_every=20, seed=0,
    loss_weights={"encoder_ce_loss": 0.5, "encoder_mse_loss": 0.025, "encoder_boundary_loss": 0.0,
                  "decoder_ce_loss": 0.5, "decoder_mse_loss": 0.025, "decoder_boundary_loss": 0.1})
