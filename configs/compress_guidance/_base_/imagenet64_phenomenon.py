# The model-fitting measurement (Table 1): how often an independent "off-sampling" classifier agrees with the
# requested class of guided ImageNet-64 samples. Setting inferred from the sheet (ADM classifier guidance on the
# released 64x64 pair; the table's dataset, sample count and scale are not stated): 10,000 CADM-G samples, scored by
# an ImageNet ResNet-152 from a local file (torchvision's resnet152-394f9c45.pth has timm's key names; 64x64 samples
# resized bilinearly to 224, ImageNet mean/std; no crop). The same runs also give the guiding classifier's own
# "on-sampling accuracy" at t = 0 (the table's first row; reported by these runs, not entered as a cell, since one
# run fills one setting). OADM-C (the same architecture, other weights) is the authors' own and unreleased.
_base_ = ["./imagenet64_cadm_g.py"]

dataset = dict(num_samples=10000)
task = dict(_delete_=True, type="generation", image_format=None,
            extractor=dict(type="TimmClassifierFeatures", model_name="resnet152",
                           checkpoint="checkpoints/torchvision/resnet152-394f9c45.pth", input_size=224,
                           mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
            metrics=[dict(type="ClassAccuracy"), dict(type="GuideAccuracy"), dict(type="SamplingCost",
                                                                                 per_samples=10000)])
paper = dict(table="phenomenon_accuracy", metrics=dict(_delete_=True, accuracy=dict(key="accuracy", scale=100)),
             setting=dict(_delete_=True, classifier="ResNet-152 (off-sampling)"))
