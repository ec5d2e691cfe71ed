"""Package data: the reported numbers of each paper (installed as ``bench._reported``)."""
