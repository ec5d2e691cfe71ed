# Every split of breakfast trains first: the best-AVG-on-test epoch selection reads all 4 training folders.
upstream = dict(
    split1=dict(config="diffact/breakfast_split1_train", product="checkpoint"),
    split2=dict(config="diffact/breakfast_split2_train", product="checkpoint"),
    split3=dict(config="diffact/breakfast_split3_train", product="checkpoint"),
    split4=dict(config="diffact/breakfast_split4_train", product="checkpoint"),
)
