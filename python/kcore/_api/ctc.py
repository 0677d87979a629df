"""Connectionist temporal classification: ctc_batch_cost, ctc_decode, ctc_label_dense_to_sparse,
as Keras 2.3.1 on TensorFlow computes them (the last class is the blank; y_pred holds
probabilities, which TensorFlow sees as logits log(y_pred + epsilon)). NumPy, in float64."""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

from kcore import _graph
from kcore import _validate as V
from kcore._api.common import static_dtype, static_shape
from kcore._api.config import epsilon
from kcore._api.grad import builder_for, gradient, no_gradient
from kcore._ops import op

PUBLIC = ("ctc_label_dense_to_sparse", "ctc_decode")


@dataclasses.dataclass(frozen=True)
class SparseValue:
    """A sparse tensor's parts, as tf.SparseTensorValue: indices (n, rank), values (n,), dense_shape."""

    indices: np.ndarray
    values: np.ndarray
    dense_shape: tuple

    def to_dense(self, default_value=0) -> np.ndarray:
        out = np.full(self.dense_shape, default_value, dtype=self.values.dtype)
        if len(self.values):
            out[tuple(self.indices.T)] = self.values
        return out


def _lengths(v, n, fn, what):
    a = V.tensor(v, fn, what).reshape(-1)
    if a.dtype.kind not in "iub" and not np.all(a == np.floor(a)):
        raise ValueError(f"{fn}: {what} must be whole numbers, got {a}")
    if a.shape != (n,) or np.any(a < 0) or np.any(a >= 2 ** 62):
        raise ValueError(f"{fn}: expected {n} non-negative {what}, got {a.tolist()}")
    return a.astype(np.int64)


def ctc_label_dense_to_sparse(labels, label_lengths):
    """The first label_lengths[i] labels of each row, as a SparseValue of shape labels.shape."""
    lab = V.tensor(labels, "ctc_label_dense_to_sparse", "labels")
    if lab.ndim != 2:
        raise ValueError(f"ctc_label_dense_to_sparse: labels must be (samples, max_length), got shape {lab.shape}")
    lengths = _lengths(label_lengths, lab.shape[0], "ctc_label_dense_to_sparse", "label_lengths")
    idx = [(i, j) for i in range(lab.shape[0]) for j in range(min(int(lengths[i]), lab.shape[1]))]
    indices = np.array(idx, dtype=np.int64).reshape(-1, 2)
    values = lab[tuple(indices.T)] if len(idx) else np.zeros(0, lab.dtype)
    return SparseValue(indices, values.astype(np.int32), lab.shape)


def _log_probs(y_pred):
    """log softmax of log(y_pred + epsilon): what TensorFlow's CTC ops see, per sample and frame."""
    p = np.asarray(y_pred, np.float64) + epsilon()
    return np.log(p) - np.log(np.sum(p, axis=-1, keepdims=True))


def _extended(label, blank):
    """The label with blanks around and between its symbols, and where a path may skip a blank."""
    ext = np.full(2 * len(label) + 1, blank, dtype=np.int64)
    ext[1::2] = label
    skip = np.zeros(len(ext), bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    return ext, skip


def _shifted(a, k):
    return np.concatenate([np.full(k, -np.inf), a[:-k]]) if k < len(a) else np.full(len(a), -np.inf)


def _ctc(logp, label, want_grad=False):
    """-log p(label | logp (frames, classes)) by the forward algorithm over the extended label; with
    want_grad, also its gradient with respect to the logits behind logp (a log softmax):
    softmax - the posterior occupancy of each class at each frame (forward-backward)."""
    frames, classes = logp.shape
    blank = classes - 1
    ext, skip = _extended(np.asarray(label, np.int64), blank)
    if frames == 0:
        return (0.0 if not len(label) else np.inf), np.zeros((0, classes))
    emit = logp[:, ext]  # (frames, states)
    alpha = np.full((frames, len(ext)), -np.inf)
    alpha[0, :2] = emit[0, :2]
    for t in range(1, frames):
        prev = alpha[t - 1]
        a = np.logaddexp(prev, _shifted(prev, 1))
        a = np.where(skip, np.logaddexp(a, _shifted(prev, 2)), a)
        alpha[t] = a + emit[t]
    total = alpha[-1, -1] if len(ext) == 1 else np.logaddexp(alpha[-1, -1], alpha[-1, -2])
    if not want_grad:
        return -total, None
    if not np.isfinite(total):  # the label cannot be emitted in these frames: no gradient
        return np.inf, np.zeros(logp.shape)
    beta = np.full((frames, len(ext)), -np.inf)  # beta[t, s]: the rest of the path after frame t
    beta[-1, -2:] = 0.0
    skip_from = np.concatenate([skip[2:], [False, False]])  # s -> s + 2 allowed
    for t in range(frames - 2, -1, -1):
        nxt = beta[t + 1] + emit[t + 1]
        b = np.logaddexp(nxt, np.concatenate([nxt[1:], [-np.inf]]))
        b = np.where(skip_from, np.logaddexp(b, np.concatenate([nxt[2:], [-np.inf, -np.inf]])), b)
        beta[t] = b
    occupancy = np.zeros((frames, classes))
    np.add.at(occupancy.T, ext, np.exp(alpha + beta - total).T)
    return -total, np.exp(logp) - occupancy


@op(shape=lambda y_true, y_pred, input_length, label_length:
    (None if static_shape(y_pred) is None else (static_shape(y_pred)[0], 1), "float32"))
def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    """The CTC loss of each sample: (samples, 1). y_true (samples, max_label_length) labels,
    y_pred (samples, frames, classes) probabilities with the blank last, input_length and
    label_length (samples, 1)."""
    fn = "ctc_batch_cost"
    labels, pred = V.tensor(y_true, fn, "y_true"), V.tensor(y_pred, fn, "y_pred")
    if pred.ndim != 3 or labels.ndim != 2 or labels.shape[0] != pred.shape[0]:
        raise ValueError(f"{fn}: y_true must be (samples, labels) and y_pred (samples, frames, classes) for the same "
                         f"samples, got {labels.shape} and {pred.shape}")
    n = pred.shape[0]
    frames = _lengths(input_length, n, fn, "input_length")
    lengths = _lengths(label_length, n, fn, "label_length")
    if np.any(frames > pred.shape[1]) or np.any(lengths > labels.shape[1]):
        raise ValueError(f"{fn}: input_length or label_length exceeds the tensors' lengths")
    logp = _log_probs(pred)
    losses = [_ctc(logp[i, :frames[i]], labels[i, :lengths[i]])[0] for i in range(n)]
    dtype = pred.dtype if pred.dtype.kind == "f" else np.float32
    return np.asarray(losses, np.float64).reshape(n, 1).astype(dtype)


@op("_ctc_batch_cost_grad", shape=lambda g, y_true, y_pred, input_length, label_length:
    (static_shape(y_pred), "float32" if static_dtype(y_pred) not in ("float16", "float64") else static_dtype(y_pred)))
def ctc_batch_cost_grad(g, y_true, y_pred, input_length, label_length):
    """ctc_batch_cost's gradient with respect to y_pred: through the logits log(y_pred + epsilon),
    zero at frames past each sample's input_length."""
    labels, pred = np.asarray(y_true), np.asarray(y_pred)
    n = pred.shape[0]
    frames = _lengths(input_length, n, "ctc_batch_cost", "input_length")
    lengths = _lengths(label_length, n, "ctc_batch_cost", "label_length")
    logp = _log_probs(pred)
    out = np.zeros(pred.shape)
    for i in range(n):
        out[i, :frames[i]] = _ctc(logp[i, :frames[i]], labels[i, :lengths[i]], want_grad=True)[1]
    out *= np.asarray(g, np.float64).reshape(n, 1, 1) / (np.asarray(pred, np.float64) + epsilon())
    return out.astype(pred.dtype if pred.dtype.kind == "f" else np.float32)


@gradient("ctc_batch_cost")
def _ctc_batch_cost_gradient(B, out, g, y_true, y_pred, input_length, label_length):
    return None, B._ctc_batch_cost_grad(g, y_true, y_pred, input_length, label_length), None, None


def _greedy(logits):
    """The best class per frame, repeats merged and blanks dropped; TensorFlow's score: minus the
    sum of each frame's largest logit (log(y_pred + epsilon), not normalized)."""
    best = np.argmax(logits, axis=1)
    blank = logits.shape[1] - 1
    path, prev = [], None
    for c in best:
        if c != prev and c != blank:
            path.append(int(c))
        prev = c
    return [path], np.array([-np.sum(np.max(logits, axis=1))])


def _beam(logp, beam_width, top_paths, merge_repeated=False):
    """CTC prefix beam search: the most probable label sequences (each summed over its alignments)."""
    blank = logp.shape[1] - 1
    beams = {(): (0.0, -np.inf)}  # prefix -> (log p ending in blank, log p ending in a symbol)
    for t in range(logp.shape[0]):
        nxt: dict = collections.defaultdict(lambda: [-np.inf, -np.inf])
        for prefix, (pb, pnb) in beams.items():
            total = np.logaddexp(pb, pnb)
            for c in range(logp.shape[1]):
                p = logp[t, c]
                if c == blank:
                    nxt[prefix][0] = np.logaddexp(nxt[prefix][0], total + p)
                    continue
                new = prefix + (c,)
                if prefix and prefix[-1] == c:
                    nxt[new][1] = np.logaddexp(nxt[new][1], pb + p)  # a repeat needs a blank between
                    nxt[prefix][1] = np.logaddexp(nxt[prefix][1], pnb + p)  # else it merges
                else:
                    nxt[new][1] = np.logaddexp(nxt[new][1], total + p)
        ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:beam_width]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    ranked = sorted(beams.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:top_paths]
    paths = [list(k) for k, _ in ranked]
    if merge_repeated:  # TensorFlow's option: repeats merge even where a blank separated them
        paths = [[c for i, c in enumerate(p) if i == 0 or c != p[i - 1]] for p in paths]
    scores = [float(np.logaddexp(*v)) for _, v in ranked]
    while len(paths) < top_paths:
        paths.append([])
        scores.append(-np.inf)
    return paths, np.array(scores)


def _decode(y_pred, input_length, greedy, beam_width, top_paths, merge_repeated):
    fn = "ctc_decode"
    pred = V.tensor(y_pred, fn, "y_pred")
    if pred.ndim != 3:
        raise ValueError(f"{fn}: y_pred must be (samples, frames, classes), got shape {pred.shape}")
    greedy, beam_width, top_paths, merge_repeated = _decode_options(greedy, beam_width, top_paths, merge_repeated)
    n = pred.shape[0]
    frames = _lengths(input_length, n, fn, "input_length")
    logits = np.log(np.asarray(pred, np.float64) + epsilon())
    logp = _log_probs(pred)  # the beam search normalizes, as TensorFlow's
    k = 1 if greedy else int(top_paths)
    all_paths, scores = [], np.zeros((n, k))
    for i in range(n):
        if greedy:
            paths, s = _greedy(logits[i, :frames[i]])
        else:
            paths, s = _beam(logp[i, :frames[i]], int(beam_width), k, bool(merge_repeated))
        all_paths.append(paths)
        scores[i] = s
    decoded = []
    for j in range(k):
        width = max([len(p[j]) for p in all_paths] + [0])
        dense = np.full((n, width), -1, np.int64)
        for i, p in enumerate(all_paths):
            dense[i, :len(p[j])] = p[j]
        decoded.append(dense)
    return decoded, scores.astype(pred.dtype if pred.dtype.kind == "f" else np.float32)


@op("_ctc_decoded", shape=lambda y_pred, input_length, greedy, beam_width, top_paths, merge_repeated, i:
    ((None, None), "int64") if i >= 0 else ((None, 1 if greedy else top_paths), "float32"))
def ctc_decoded(y_pred, input_length, greedy, beam_width, top_paths, merge_repeated, i):
    decoded, scores = _decode(y_pred, input_length, greedy, beam_width, top_paths, merge_repeated)
    return decoded[i] if i >= 0 else scores


def _decode_options(greedy, beam_width, top_paths, merge_repeated):
    fn = "ctc_decode"
    greedy, merge_repeated = V.flag(greedy, fn, "greedy"), V.flag(merge_repeated, fn, "merge_repeated")
    beam_width = V.count(beam_width, fn, "beam_width", low=1, bits=31)
    top_paths = V.count(top_paths, fn, "top_paths", low=1, bits=31)
    if not greedy and top_paths > beam_width:
        raise ValueError(f"{fn}: need 1 <= top_paths <= beam_width, got {top_paths} and {beam_width}")
    return greedy, beam_width, top_paths, merge_repeated


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1, merge_repeated=False):
    """([decoded label matrices, -1 padded] (top_paths of them), log probabilities (samples,
    top_paths)): greedy (best class per frame, repeats merged, blanks dropped; its score is minus
    the sum of each frame's largest log-probability, as TensorFlow's) or a prefix beam search
    (merge_repeated: repeated labels in its results merge, even where a blank separated them)."""
    if _graph.contains_symbolic(y_pred) or _graph.contains_symbolic(input_length):
        greedy, beam_width, top_paths, merge_repeated = _decode_options(greedy, beam_width, top_paths,
                                                                        merge_repeated)
        B = builder_for(y_pred, input_length)
        k = 1 if greedy else int(top_paths)
        args = (y_pred, input_length, greedy, beam_width, top_paths, merge_repeated)
        return [B._ctc_decoded(*args, i) for i in range(k)], B._ctc_decoded(*args, -1)
    return _decode(y_pred, input_length, greedy, beam_width, top_paths, merge_repeated)


gradient("_ctc_decoded")(no_gradient)
