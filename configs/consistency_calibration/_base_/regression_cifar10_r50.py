# The sheet's derived regression table: calibrators on the ResNet-50 CIFAR-10 logits that Linwei94/calibrator
# ships (tests/test_logits; 5,000 val / 10,000 test). Copy that folder to data/calibrator_logits/ or override
# dataset.path and method.fit_on.path. All metrics in % except NLL; fitted eps / T go to the "_fitted" table.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/calibration.py"]

run = dict(batch_size=2000)
paper = dict(
    slug="consistency_calibration", table="regression_cifar10_r50",
    metrics={"Acc": dict(key="accuracy", scale=100), "ECE-15": dict(key="ece_15", scale=100),
             "AdaECE-15": dict(key="adaece_15", scale=100), "CECE-15": dict(key="cece_15", scale=100),
             "NLL": dict(key="nll")})
