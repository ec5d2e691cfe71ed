# Fig. 4 ablation row 'ant_no_an' on FFHQ -> Sunglasses (300 iterations, the paper's settings):
# ant_ffhq_sunglasses.py with ablation=ant_no_an. The paper gives only the ordering (FID: adaptor-only >
# full fine-tuning > ANT w/o AN > ANT), so the run fills no table cell.
_base_ = ["./ant_ffhq_sunglasses.py"]

method = dict(ablation="ant_no_an")
paper = None
