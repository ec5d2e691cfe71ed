# DPMs-ANT stage 1 for FFHQ -> Sunglasses on 100 target images (Table 3's second row): classifier_ffhq_sunglasses.py
# with the train section reading 100 images from <target>/train100 (the paper does not say which 100; put any 100
# Sunglasses images that exclude the 10-shot set there). The adaptor still trains on the 10 images.
_base_ = ["./classifier_ffhq_sunglasses.py"]

train = dict(dataset=dict(split="full", root="data/fewshot/sunglasses/train100", target=None, num_shots=None))
