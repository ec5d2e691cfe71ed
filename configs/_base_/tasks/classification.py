# Single-label classification: top-1 accuracy, NLL and 15-bin ECE (lo < conf <= hi).
task = dict(type="classification", metrics=[dict(type="Accuracy"), dict(type="NLL"), dict(type="ECE", n_bins=15)])
