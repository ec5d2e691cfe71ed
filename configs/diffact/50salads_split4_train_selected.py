# The same training as 50salads_split4_train.py (shared: epoch_selection is evaluation-only), evaluated at the epoch
# with the best AVG over the 5 splits' TEST scores, the published protocol (issue #1). Train every split first.
_base_ = ["./50salads_split4_train.py"]

method = dict(epoch_selection=dict(mode="best_avg_on_test", train_configs=[
    "diffact/50salads_split1_train",
    "diffact/50salads_split2_train",
    "diffact/50salads_split3_train",
    "diffact/50salads_split4_train",
    "diffact/50salads_split5_train",
]))
paper = dict(setting=dict(selection="selected on test (as published)"))
