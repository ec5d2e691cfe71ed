# The same training as gtea_split4_train.py (shared: epoch_selection is evaluation-only), evaluated at the epoch
# with the best AVG over the 4 splits' TEST scores, the published protocol (issue #1).
# Every split trains first (upstreams in _base_/gtea_selected.py).
_base_ = ["./gtea_split4_train.py", "./_base_/gtea_selected.py"]

method = dict(epoch_selection=dict(mode="best_avg_on_test", train_checkpoints=[
    "upstream:split1", "upstream:split2", "upstream:split3", "upstream:split4"]))
paper = dict(setting=dict(selection="selected on test (as published)"))
