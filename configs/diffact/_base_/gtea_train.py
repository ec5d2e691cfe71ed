# Official GTEA training (num_epochs 10001, log_freq 100); val_dataset is the TEST split, as the official trainer
# evaluates it at every logged epoch (epoch selection reads those scores).
train = dict(
    dataset=dict(type="GTEA", data_root="data/gtea", split=1, subset="train"),
    val_dataset=dict(type="GTEA", data_root="data/gtea", split=1, subset="test"),
    epochs=10001, batch_size=4, lr=5e-4, weight_decay=1e-6, class_weighting=True, soft_label=1.4,
    boundary_smooth=1, eval_every=100, seed=0,
    loss_weights={"encoder_ce_loss": 0.5, "encoder_mse_loss": 0.1, "encoder_boundary_loss": 0.0,
                  "decoder_ce_loss": 0.5, "decoder_mse_loss": 0.1, "decoder_boundary_loss": 0.1})
