# The DAS demo's generated queries: demo_digits2.py with the 60 images demo/full/das_0_model samples from the
# full-data model (GeneratedImages, ids gen-<i>) as the queries attributed and scored (LDS on the ground truth's
# "gen" set). λ is still chosen on the 60 held-out real test digits (the same λ as the val configs: the generated
# set has no held-out half here); the best LDS over the grid on the gen queries is recorded as "selected on test, as
# published".
_base_ = ["./demo_digits2.py"]

dataset = dict(_delete_=True, type="GeneratedImages", run_dir="upstream:gen")
method = dict(lambda_selection=dict(test=dict(
    query_set="gen", queries=dict(_delete_=True, type="GeneratedImages", run_dir="upstream:gen"))))
upstream = dict(gen=dict(config="demo/full/das_0_model", product="run"))
task = dict(metrics=[dict(type="LDS", retrained_losses="upstream:groundtruth", query_set="gen")])
