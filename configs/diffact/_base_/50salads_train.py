# Official 50Salads training (num_epochs 5001, log_freq 100); val_dataset is the TEST split (see gtea_train.py).
train = dict(
    dataset=dict(type="Salads50", data_root="data/50salads", split=1, subset="train"),
    val_dataset=dict(type="Salads50", data_root="data/50salads", split=1, subset="test"),
    epochs=5001, batch_size=4, lr=5e-4, weight_decay=0.0, class_weighting=True, soft_label=None,
    boundary_smooth=20, eval_every=100, seed=0,
    loss_weights={"encoder_ce_loss": 0.5, "encoder_mse_loss": 0.1, "encoder_boundary_loss": 0.0,
                  "decoder_ce_loss": 0.5, "decoder_mse_loss": 0.1, "decoder_boundary_loss": 0.1})
