# CIFAR-2 LDS on D-TRAK's generated queries: _base_/cifar2.py with the 1,000 images configs/das/cifar2_model.py's run
# samples (GeneratedImages, ids gen-<i>; D-TRAK's idx-gen set, DDIM 50 steps, image i seeded i) as the queries
# attributed and scored (LDS on the ground truth's "gen" set). λ is still chosen on the 1,000 held-out real test
# images (the generated set has no held-out half; D-TRAK's notebooks pick λ on the scored queries); the best LDS over
# the grid on the gen queries is recorded beside it as "selected on test, as published".
_base_ = ["./cifar2.py"]

dataset = dict(_delete_=True, type="GeneratedImages", run_dir="upstream:gen")
method = dict(lambda_selection=dict(test=dict(
    query_set="gen", queries=dict(_delete_=True, type="GeneratedImages", run_dir="upstream:gen"))))
upstream = dict(gen=dict(config="das/cifar2_model", product="run"))
task = dict(metrics=[dict(type="LDS", retrained_losses="upstream:groundtruth", query_set="gen")])
paper = None  # the LTW re-run table (lds_rerun_ltw) has val queries only
