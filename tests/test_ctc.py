"""ctc_batch_cost, ctc_decode and ctc_label_dense_to_sparse against brute force over every
alignment (small frames and classes), with Keras 2.3.1 on TensorFlow's conventions: the last class
is the blank, y_pred holds probabilities that TensorFlow sees as logits log(y_pred + epsilon)."""
import itertools

import numpy as np
import pytest

from kcore import backend as K

rng = np.random.default_rng(3)
EPS = 1e-7


def collapse(path, blank):
    """An alignment's labels: repeats merged, then blanks dropped."""
    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    return tuple(c for c in merged if c != blank)


def label_probabilities(y):
    """{label sequence: probability summed over its alignments} for one sample's y (frames, classes)."""
    p = (y + EPS) / (y + EPS).sum(axis=1, keepdims=True)
    out: dict = {}
    for path in itertools.product(range(y.shape[1]), repeat=y.shape[0]):
        key = collapse(path, y.shape[1] - 1)
        out[key] = out.get(key, 0.0) + np.prod(p[np.arange(len(path)), path])
    return out


def probabilities(n, frames, classes):
    y = rng.uniform(0.05, 1.0, (n, frames, classes))
    return y / y.sum(axis=2, keepdims=True)


def test_ctc_batch_cost_is_minus_log_the_sum_over_alignments():
    y = probabilities(4, 5, 4)  # classes 0..2, blank 3
    labels = np.array([[0, 1, 1], [2, 0, 0], [0, 0, 0], [1, 2, 0]])
    label_length = np.array([[3], [1], [0], [2]])
    input_length = np.array([[5], [5], [3], [4]])
    got = K.ctc_batch_cost(labels, y.astype(np.float32), input_length, label_length)
    assert got.shape == (4, 1) and got.dtype == np.float32
    for i in range(4):
        probs = label_probabilities(y[i, :input_length[i, 0]])
        want = -np.log(probs.get(tuple(labels[i, :label_length[i, 0]]), 0.0))
        np.testing.assert_allclose(got[i, 0], want, rtol=1e-6)


def test_ctc_batch_cost_of_a_label_too_long_for_its_frames_is_infinite():
    y = probabilities(1, 3, 3)
    got = K.ctc_batch_cost(np.array([[0, 0, 1]]), y, np.array([[3]]), np.array([[3]]))  # needs 4 frames
    assert np.isinf(got[0, 0])


@pytest.mark.parametrize("merge_repeated", [False, True])
def test_ctc_decode_beam_search_ranks_labels_by_their_summed_probability(merge_repeated):
    y = probabilities(3, 4, 3)
    y[0] = [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4]]  # (0, 0) is the likeliest
    input_length = np.array([4, 4, 3])
    decoded, log_prob = K.ctc_decode(y, input_length, greedy=False, beam_width=100, top_paths=4,
                                     merge_repeated=merge_repeated)
    assert len(decoded) == 4 and log_prob.shape == (3, 4)
    for i in range(3):
        ranked = sorted(label_probabilities(y[i, :input_length[i]]).items(), key=lambda kv: -kv[1])[:4]
        if i == 0:
            assert ranked[0][0] == (0, 0)
        for j, (seq, p) in enumerate(ranked):
            if merge_repeated:  # TensorFlow's option: (a, a) comes out as (a)
                seq = tuple(c for k, c in enumerate(seq) if k == 0 or c != seq[k - 1])
            row = decoded[j][i]
            assert tuple(row[row >= 0]) == seq, (i, j)
            np.testing.assert_allclose(log_prob[i, j], np.log(p), rtol=1e-6)


def test_ctc_decode_greedy_takes_the_best_class_per_frame():
    y = np.array([[[0.6, 0.3, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.55, 0.4, 0.05], [0.1, 0.7, 0.2]],
                  [[0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.2, 0.7, 0.1], [0.9, 0.05, 0.05], [0.3, 0.3, 0.4]]])
    decoded, log_prob = K.ctc_decode(y, np.array([5, 3]))
    np.testing.assert_array_equal(decoded[0], [[0, 0, 1], [1, -1, -1]])
    want = [-np.log(np.array([0.6, 0.7, 0.8, 0.55, 0.7]) + EPS).sum(), -np.log(np.array([0.8, 0.7, 0.7]) + EPS).sum()]
    np.testing.assert_allclose(log_prob[:, 0], want, rtol=1e-12)


def test_ctc_decode_and_cost_in_a_graph():
    yp = K.placeholder((None, None, 3))
    lengths = K.placeholder((None,), dtype="int32")
    decoded, log_prob = K.ctc_decode(yp, lengths)
    y = probabilities(2, 4, 3).astype(np.float32)
    d, s = K.function([yp, lengths], [decoded[0], log_prob])([y, np.array([4, 2])])
    d_eager, s_eager = K.ctc_decode(y, np.array([4, 2]))
    np.testing.assert_array_equal(d, d_eager[0])
    np.testing.assert_array_equal(s, s_eager)


def test_ctc_label_dense_to_sparse():
    sp = K.ctc_label_dense_to_sparse(np.array([[1, 2, 9], [3, 9, 9]]), np.array([2, 1]))
    np.testing.assert_array_equal(sp.indices, [[0, 0], [0, 1], [1, 0]])
    np.testing.assert_array_equal(sp.values, [1, 2, 3])
    assert tuple(sp.dense_shape) == (2, 3)


@pytest.mark.parametrize("bad", [{"beam_width": 2, "top_paths": 3}, {"beam_width": 0, "top_paths": 1}])
def test_ctc_decode_rejects_bad_beam_arguments(bad):
    with pytest.raises(ValueError, match="ctc_decode"):
        K.ctc_decode(probabilities(1, 3, 3), np.array([3]), greedy=False, **bad)
