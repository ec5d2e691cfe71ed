"""A plain port of the official MS-TCN / DiffAct ``utils.py`` evaluation loops (``get_labels_start_end_time``,
``levenstein``, ``f_score``, ``func_eval``) on lists of label names: the reference that the metric tests and the
metric benchmark compare ``bench.metrics.action_segmentation`` against."""
import math

BG = ("background",)


def reference_segments(frames, background):
    """``get_labels_start_end_time``: the last segment ends at the loop variable's last value, len - 1."""
    labels, starts, ends = [], [], []
    last = frames[0]
    if last not in background:
        labels.append(last)
        starts.append(0)
    for i, label in enumerate(frames):
        if label != last:
            if label not in background:
                labels.append(label)
                starts.append(i)
            if last not in background:
                ends.append(i)
            last = label
    if last not in background:
        ends.append(i)
    return labels, starts, ends


def reference_levenshtein(p, y):
    table = [[0] * (len(y) + 1) for _ in range(len(p) + 1)]
    for i in range(len(p) + 1):
        table[i][0] = i
    for j in range(len(y) + 1):
        table[0][j] = j
    for j in range(1, len(y) + 1):
        for i in range(1, len(p) + 1):
            if y[j - 1] == p[i - 1]:
                table[i][j] = table[i - 1][j - 1]
            else:
                table[i][j] = min(table[i - 1][j], table[i][j - 1], table[i - 1][j - 1]) + 1
    return table[-1][-1]


def reference_edit(pred, target, background):
    p, y = reference_segments(pred, background)[0], reference_segments(target, background)[0]
    longest = max(len(p), len(y))
    return 1 - reference_levenshtein(p, y) / longest if longest else math.nan  # numpy float64 0/0 in the official


def reference_counts(pred, target, overlap, background):
    p_label, p_start, p_end = reference_segments(pred, background)
    y_label, y_start, y_end = reference_segments(target, background)
    tp = fp = 0
    hits = [False] * len(y_label)
    for j in range(len(p_label)):
        if not y_label:  # the official's argmax of an empty array raises; we count a false positive
            fp += 1
            continue
        ious = []
        for x in range(len(y_label)):
            intersection = min(p_end[j], y_end[x]) - max(p_start[j], y_start[x])
            union = max(p_end[j], y_end[x]) - min(p_start[j], y_start[x])
            iou = intersection / union if union else math.nan  # 0/0 of two zero-length final segments
            ious.append(iou if p_label[j] == y_label[x] or math.isnan(iou) else 0.0)  # nan * False is nan
        nans = [x for x, v in enumerate(ious) if math.isnan(v)]
        best = nans[0] if nans else ious.index(max(ious))  # numpy argmax: first NaN, else first maximum
        if ious[best] >= overlap and not hits[best]:
            tp += 1
            hits[best] = True
        else:
            fp += 1
    return tp, fp, len(y_label) - sum(hits)


def reference_scores(predictions, targets, background=BG, overlaps=(0.1, 0.25, 0.5)):
    """``func_eval`` on lists of label names, as fractions."""
    correct = total = 0
    edit = 0.0
    tp, fp, fn = [0] * len(overlaps), [0] * len(overlaps), [0] * len(overlaps)
    for pred, target in zip(predictions, targets, strict=True):
        for p, t in zip(pred, target, strict=True):
            total += 1
            correct += p == t
        edit += reference_edit(pred, target, background)
        for s, overlap in enumerate(overlaps):
            counts = reference_counts(pred, target, overlap, background)
            tp[s], fp[s], fn[s] = tp[s] + counts[0], fp[s] + counts[1], fn[s] + counts[2]
    scores = {"Acc": correct / total, "Edit": edit / len(predictions)}
    for s, overlap in enumerate(overlaps):
        if tp[s] == 0:
            f1 = 0.0  # nan_to_num of 0/0
        else:
            precision, recall = tp[s] / (tp[s] + fp[s]), tp[s] / (tp[s] + fn[s])
            f1 = 2.0 * (precision * recall) / (precision + recall)
        scores[f"F1@{100 * overlap:g}"] = f1
    return scores
