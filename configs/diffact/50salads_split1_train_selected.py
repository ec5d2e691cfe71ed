# The same training as 50salads_split1_train.py (shared: epoch_selection is evaluation-only), evaluated at the epoch
# with the best AVG over the 5 splits' TEST scores, the published protocol (issue #1).
# Every split trains first (upstreams).
_base_ = ["./50salads_split1_train.py"]

upstream = dict(
    split1=dict(config="diffact/50salads_split1_train", product="checkpoint"),
    split2=dict(config="diffact/50salads_split2_train", product="checkpoint"),
    split3=dict(config="diffact/50salads_split3_train", product="checkpoint"),
    split4=dict(config="diffact/50salads_split4_train", product="checkpoint"),
    split5=dict(config="diffact/50salads_split5_train", product="checkpoint"),
)
method = dict(epoch_selection=dict(mode="best_avg_on_test", train_checkpoints=[
    "upstream:split1",
    "upstream:split2",
    "upstream:split3",
    "upstream:split4",
    "upstream:split5",
]))
paper = dict(setting=dict(selection="selected on test (as published)"))
