"""K.rnn, K.map_fn, K.foldl and K.foldr against loops written here in NumPy, over a known number of
steps (unrolled) and an unknown one (the loop node), and their gradients (backpropagation through
time on the loop node) against central finite differences in float64."""
import numpy as np
import pytest

from kcore import backend as K

rng = np.random.default_rng(5)
B, T, D, H = 3, 5, 2, 4


def np_rnn(x, h0, W, U, c, mask=None, go_backwards=False):
    """h_t = tanh(x_t W + h_{t-1} U + c); masked steps keep the previous output and state."""
    h, outs, prev = h0, [], np.zeros_like(h0)
    for t in (range(T - 1, -1, -1) if go_backwards else range(T)):
        new = np.tanh(x[:, t] @ W + h @ U + c)
        if mask is not None:
            keep = mask[:, t:t + 1]
            new, out = np.where(keep, new, h), np.where(keep, new, prev)
        else:
            out = new
        h, prev = new, out
        outs.append(out)
    return outs[-1], np.stack(outs, 1), h


def k_rnn(x, h0, W, U, c, mask=None, go_backwards=False):
    def step(x_t, states):
        h = K.tanh(K.dot(x_t, W) + K.dot(states[0], U) + states[1])
        return h, [h]
    last, outs, (h,) = K.rnn(step, x, [h0], go_backwards=go_backwards, mask=mask, constants=[c])
    return last, outs, h


def params():
    return (rng.standard_normal((B, H)), rng.standard_normal((D, H)) * 0.6, rng.standard_normal((H, H)) * 0.6,
            rng.standard_normal((H,)) * 0.3)


MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 1, 1, 0]], dtype=bool)


@pytest.mark.parametrize("known", [True, False], ids=["unrolled", "loop_node"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_matches_numpy(known, go_backwards, masked):
    xv = rng.standard_normal((B, T, D))
    h0, W, U, c = params()
    x = K.placeholder((None, T if known else None, D), dtype="float64")
    m = K.placeholder((None, None), dtype="bool") if masked else None
    out = k_rnn(x, *(K.variable(v, dtype="float64") for v in (h0, W, U, c)), m, go_backwards)
    got = K.function([x] + ([m] if masked else []), list(out))([xv] + ([MASK] if masked else []))
    want = np_rnn(xv, h0, W, U, c, MASK if masked else None, go_backwards)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def finite_differences(loss_of, values, h=1e-6):
    fd = []
    for i, v in enumerate(values):
        d = np.zeros_like(v)
        for idx in np.ndindex(*v.shape):
            for sign in (1, -1):
                w = [u.copy() for u in values]
                w[i][idx] += sign * h
                d[idx] += sign * loss_of(w) / (2 * h)
        fd.append(d)
    return fd


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_gradients_through_an_unknown_number_of_steps(go_backwards, masked):
    xv = rng.standard_normal((B, T, D))
    values = list(params())
    r_last, r_seq, r_h = rng.standard_normal((B, H)), rng.standard_normal((B, T, H)), rng.standard_normal((B, H))
    mask = MASK if masked else None

    def loss_np(vals):
        last, seq, h = np_rnn(xv, *vals, mask, go_backwards)
        return float((last * r_last).sum() + (seq * r_seq).sum() + (h * r_h).sum())

    x = K.placeholder((None, None, D), dtype="float64")
    m = K.placeholder((None, None), dtype="bool") if masked else None
    variables = [K.variable(v, dtype="float64") for v in values]
    last, seq, h = k_rnn(x, *variables, m, go_backwards)
    loss = K.sum(last * r_last) + K.sum(seq * r_seq) + K.sum(h * r_h)
    grads = K.gradients(loss, variables + [x])
    got = K.function([x] + ([m] if masked else []), [loss] + grads)([xv] + ([MASK] if masked else []))
    assert abs(got[0] - loss_np(values)) < 1e-10
    for i, (g, fd) in enumerate(zip(got[1:], finite_differences(loss_np, values), strict=False)):
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7, err_msg=f"variable {i}")
    # and the input's gradient
    fd_x = finite_differences(lambda w: float(
        sum((a * r).sum() for a, r in zip(np_rnn(w[0], *values, mask, go_backwards), (r_last, r_seq, r_h),
                                          strict=True))), [xv])[0]
    np.testing.assert_allclose(got[-1], fd_x, rtol=1e-5, atol=1e-7)


def test_a_step_reads_outer_tensors_and_the_learning_phase_fed_per_call():
    # Keras's dropout masks are computed outside the step and read inside it.
    x = K.placeholder((None, None, D), dtype="float64")
    scale = K.placeholder((D,), dtype="float64")
    W = K.variable(rng.standard_normal((D, H)), dtype="float64")
    outer = K.in_train_phase(scale * 2.0, scale)

    def step(x_t, states):
        h = K.dot(x_t * outer, W) + states[0]
        return h, [h]

    last, _, _ = K.rnn(step, x, [K.zeros((B, H), dtype="float64")])
    gW, gs = K.gradients(K.sum(last), [W, scale])
    f = K.function([x, scale, K.learning_phase()], [last, gW, gs])
    xv, sv = rng.standard_normal((B, T, D)), rng.standard_normal(D)
    for phase, factor in ((0, 1.0), (1, 2.0)):
        got_last, got_gW, got_gs = f([xv, sv, phase])
        xs = xv.sum(axis=1) * sv * factor
        np.testing.assert_allclose(got_last, xs @ K.get_value(W), rtol=1e-12)
        np.testing.assert_allclose(got_gW, np.broadcast_to(xs.sum(0)[:, None], (D, H)), rtol=1e-12)
        np.testing.assert_allclose(got_gs, factor * (xv.sum(axis=1) * K.get_value(W).sum(1)).sum(0), rtol=1e-12)


@pytest.mark.parametrize("known", [True, False], ids=["unrolled", "loop_node"])
def test_map_fn_and_folds(known):
    ev = rng.standard_normal((4, 3))
    e = K.placeholder((4 if known else None, 3), dtype="float64")
    W = K.variable(rng.standard_normal((3, 2)), dtype="float64")
    mapped = K.map_fn(lambda r: K.tanh(K.dot(K.expand_dims(r, 0), W))[0], e)
    left = K.foldl(lambda acc, r: acc * 0.5 + r, e)
    right = K.foldr(lambda acc, r: acc * 0.5 + r, e, initializer=K.zeros((3,), dtype="float64"))
    got = K.function([e], [mapped, left, right] + K.gradients(K.sum(mapped) + K.sum(left * left), [W, e]))([ev])
    np.testing.assert_allclose(got[0], np.tanh(ev @ K.get_value(W)), rtol=1e-12)
    acc = ev[0]
    for r in ev[1:]:
        acc = acc * 0.5 + r
    np.testing.assert_allclose(got[1], acc, rtol=1e-12)
    acc = np.zeros(3)
    for r in ev[::-1]:
        acc = acc * 0.5 + r
    np.testing.assert_allclose(got[2], acc, rtol=1e-12)
    Wv = K.get_value(W)
    np.testing.assert_allclose(got[3], ev.T @ (1 - np.tanh(ev @ Wv) ** 2), rtol=1e-10)
    # foldl's result is 0.125 e0 + 0.25 e1 + 0.5 e2 + e3 (e0 starts the fold)
    d_e = (1 - np.tanh(ev @ Wv) ** 2) @ Wv.T + 2 * got[1] * np.array([0.125, 0.25, 0.5, 1.0])[:, None]
    np.testing.assert_allclose(got[4], d_e, rtol=1e-10)


def test_map_fn_over_no_elements_and_errors():
    e = K.placeholder((None, 3), dtype="float64")
    out = K.function([e], [K.map_fn(lambda r: r * 2.0, e)])([np.zeros((0, 3))])[0]
    assert out.shape == (0, 3)
    with pytest.raises(TypeError, match="map_fn"):
        K.map_fn(None, e)
    with pytest.raises(TypeError, match="rnn"):
        K.rnn(3, K.placeholder((None, None, 2)), [])
