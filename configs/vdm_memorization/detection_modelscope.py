# Detection on ModelScope T2V (damo-vilab/text-to-video-ms-1.7b, diffusers TextToVideoSDPipeline folder; 16 frames
# at 256x256, guidance 9.0 as the pipeline's default).
_base_ = ["./_base_/detection.py"]

method = dict(model="checkpoints/text-to-video-ms-1.7b")
