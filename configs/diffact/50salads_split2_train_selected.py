# The same training as 50salads_split2_train.py (shared: epoch_selection is evaluation-only), evaluated at the epoch
# with the best AVG over the 5 splits' TEST scores, the published protocol (issue #1).
# Every split trains first (upstreams in _base_/50salads_selected.py).
_base_ = ["./50salads_split2_train.py", "./_base_/50salads_selected.py"]

method = dict(epoch_selection=dict(mode="best_avg_on_test", train_checkpoints=[
    "upstream:split1", "upstream:split2", "upstream:split3", "upstream:split4", "upstream:split5"]))
paper = dict(setting=dict(selection="selected on test (as published)"))
