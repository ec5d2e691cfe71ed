"""File formats shared by core (tasks, metrics) and the dataset readers, one module per format family: MS-TCN
mapping and prediction files (``mstcn``), the Cholec triplet mapping (``cholec``), OLTR's ImageNet-LT split files
and shot buckets (``oltr``). Here so that core never imports ``bench.datasets``."""
