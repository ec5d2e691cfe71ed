# Table 3, FFHQ -> Sunglasses with the domain classifier trained on the 10 target images: ant_ffhq_sunglasses.py
# itself (same run), filling Table 3's row.
_base_ = ["./ant_ffhq_sunglasses.py"]

paper = dict(_delete_=True, slug="dpms_ant", table="classifier_data",
             setting={"dataset": "FFHQ -> Sunglasses", "method": "ANT", "classifier_images": "10"},
             metrics={"Intra-LPIPS": "Intra-LPIPS", "FID": "FID"})
