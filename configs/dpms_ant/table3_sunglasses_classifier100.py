# Table 3, FFHQ -> Sunglasses with the domain classifier trained on 100 target images (classifier_ffhq_sunglasses_100)
# and the adaptor on the same 10 images as Table 1.
_base_ = ["./ant_ffhq_sunglasses.py"]

upstream = dict(classifier=dict(config="dpms_ant/classifier_ffhq_sunglasses_100"))
paper = dict(_delete_=True, slug="dpms_ant", table="classifier_data",
             setting={"dataset": "FFHQ -> Sunglasses", "method": "ANT", "classifier_images": "100"},
             metrics={"Intra-LPIPS": "Intra-LPIPS", "FID": "FID"})
