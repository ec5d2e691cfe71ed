# The DAS paper's "LDS gain over D-TRAK" on CelebA val (results/reported/das.json table lds_gain_vs_dtrak: +5.1,
# secondary): DAS's LDS (lds_celeba_das.py, unchanged) minus D-TRAK's (lds_celeba_dtrak.py, an upstream run) on the
# same ground truth and val queries; LDSGain refuses a reference run scored against another artefact or query set.
_base_ = ["./lds_celeba_das.py"]

upstream = dict(dtrak=dict(config="das/lds_celeba_dtrak", product="run"))
task = dict(metrics=[dict(type="LDSGain", retrained_losses="upstream:groundtruth", query_set="val",
                          reference="upstream:dtrak")])
paper = dict(slug="das", table="lds_gain_vs_dtrak", metrics={"LDS gain over D-TRAK": "LDS_gain"},
             setting={"dataset": "CelebA", "split": "val", "method": "DAS"})
