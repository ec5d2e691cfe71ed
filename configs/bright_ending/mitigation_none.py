# Mitigation table, no mitigation: the memorized prompts as they are (the rows below are compared with this).
_base_ = ["./_base_/mitigation.py"]
