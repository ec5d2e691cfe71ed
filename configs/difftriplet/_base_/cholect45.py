# DiffTriplet on CholecT45, official 5-fold cross-validation (leaves set the fold). Frames are read from
# data/CholecT45/data/VIDxx/*.png for the per-fold backbone; the derivative's optimiser settings (Adam 5e-5, weight
# decay 5e-5 for CholecT45, 1201 epochs, batch 1); the last epoch is evaluated (the derivative scores every 100
# epochs on the test fold; no selection here).
_base_ = ["./difftriplet.py"]

dataset = dict(type="CholecT45", data_root="data/CholecT45", split="cv", fold=1, subset="test", frames=True)
method = dict(mapping_file="data/CholecT45/dict/maps.txt")
train = dict(
    dataset=dict(type="CholecT45", data_root="data/CholecT45", split="cv", fold=1, subset="train", frames=True),
    epochs=1201, batch_size=1, lr=5e-5, weight_decay=5e-5, class_weighting=[], seed=0,
    loss_weights={"encoder_bce_loss": 0.5, "decoder_bce_loss": 0.5})
paper = dict(table="baselines_cholect45_cv")
