# Every split of 50salads trains first: the best-AVG-on-test epoch selection reads all 5 training folders.
upstream = dict(
    split1=dict(config="diffact/50salads_split1_train", product="checkpoint"),
    split2=dict(config="diffact/50salads_split2_train", product="checkpoint"),
    split3=dict(config="diffact/50salads_split3_train", product="checkpoint"),
    split4=dict(config="diffact/50salads_split4_train", product="checkpoint"),
    split5=dict(config="diffact/50salads_split5_train", product="checkpoint"),
)
