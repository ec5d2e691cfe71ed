# The same training as gtea_split2_train.py (shared: epoch_selection is evaluation-only), evaluated at the epoch
# with the best AVG over the 4 splits' TEST scores, the published protocol (issue #1). Train every split first.
_base_ = ["./gtea_split2_train.py"]

method = dict(epoch_selection=dict(mode="best_avg_on_test", train_configs=[
    "diffact/gtea_split1_train",
    "diffact/gtea_split2_train",
    "diffact/gtea_split3_train",
    "diffact/gtea_split4_train",
]))
paper = dict(setting=dict(selection="selected on test (as published)"))
