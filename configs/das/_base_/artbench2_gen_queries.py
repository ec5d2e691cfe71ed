# ArtBench-2 attribution of D-TRAK's generated queries: artbench2.py with the 1,000 images configs/das/artbench2_gen.py
# samples from the attributed LoRA (GeneratedImages, ids gen-<i>, each captioned by its prompt) as the queries
# attributed and scored (LDS on the ground truth's "gen" set; D-TRAK run_grad.sh with idx-gen.pkl). λ is still chosen
# on the held-out real test images (the gen set has no held-out half); the best LDS over the grid on the gen queries
# is recorded as "selected on test, as published".
_base_ = ["./artbench2.py"]

dataset = dict(_delete_=True, type="GeneratedImages", run_dir="upstream:gen")
method = dict(lambda_selection=dict(test=dict(
    query_set="gen", queries=dict(_delete_=True, type="GeneratedImages", run_dir="upstream:gen"))))
upstream = dict(gen=dict(config="das/artbench2_gen", product="run"))
task = dict(metrics=[dict(type="LDS", retrained_losses="upstream:groundtruth", query_set="gen")])
# no cell of its own (the sheet's ArtBench-2 re-runs, table lds_rerun_ltw, are val queries); the SNR-LDS README's gen
# number is filled by lds_artbench2_das_gen_snr_readme.py
paper = dict(_delete_=True)
