# The same training as breakfast_split4_train.py (shared: epoch_selection is evaluation-only), evaluated at the epoch
# with the best AVG over the 4 splits' TEST scores, the published protocol (issue #1). Train every split first.
_base_ = ["./breakfast_split4_train.py"]

method = dict(epoch_selection=dict(mode="best_avg_on_test", train_configs=[
    "diffact/breakfast_split1_train",
    "diffact/breakfast_split2_train",
    "diffact/breakfast_split3_train",
    "diffact/breakfast_split4_train",
]))
paper = dict(setting=dict(selection="selected on test (as published)"))
