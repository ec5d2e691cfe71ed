# DiffTriplet on CholecT50: official 5-fold cross-validation or the challenge split (leaves set which). Weight
# decay 1e-5 for CholecT50 (derivative); otherwise as CholecT45.
_base_ = ["./difftriplet.py"]

dataset = dict(type="CholecT50", data_root="data/CholecT50", split="cv", fold=1, subset="test", frames=True)
method = dict(mapping_file="data/CholecT50/label_mapping.txt")
train = dict(
    dataset=dict(type="CholecT50", data_root="data/CholecT50", split="cv", fold=1, subset="train", frames=True),
    epochs=1201, batch_size=1, lr=5e-5, weight_decay=1e-5, class_weighting=[], seed=0,
    loss_weights={"encoder_bce_loss": 0.5, "decoder_bce_loss": 0.5})
paper = dict(table="baselines_cholect50")
