"""An independent float64 NumPy forward pass of Keras 2.3.1 models, layer by layer, for the zoo
tests: it reads a model's layer graph and weights, never kcore's code. Used in the Keras
subprocesses (tests/test_keras.py) to check predictions, and, with central differences of its
loss, the weights after one full-batch SGD step.

Semantics are TensorFlow's: 'same' padding puts the extra row after, average pooling with 'same'
padding divides by the number of real elements, masked RNN steps keep the previous output and
state, BatchNormalization in training normalizes with the batch's biased variance and moves its
variance statistic by the batch variance times n / (n - (1 + epsilon)) (Keras 2.3.1).
"""
import math

import numpy as np

EPS = 1e-7


def activation(name, v):
    if name in ("linear", None):
        return v
    if name == "relu":
        return np.maximum(v, 0)
    if name == "tanh":
        return np.tanh(v)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-v))
    if name == "hard_sigmoid":
        return np.clip(0.2 * v + 0.5, 0, 1)
    if name == "softmax":
        e = np.exp(v - v.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise NotImplementedError(f"reference: activation {name}")


def same_padding(n, k, s, d):
    """TensorFlow's 'same': (before, after), the odd one after."""
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def pad_spatial(x, kernel, strides, dilation, padding, fill=0.0):
    """x (batch, *spatial, channels) padded as a convolution or pooling with these sizes needs."""
    pads = []
    for n, k, s, d in zip(x.shape[1:-1], kernel, strides, dilation, strict=True):
        if padding == "same":
            pads.append(same_padding(n, k, s, d))
        elif padding == "causal":
            pads.append(((k - 1) * d, 0))
        else:
            pads.append((0, 0))
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)


def windows(x, kernel, strides, dilation):
    """For each kernel offset: the strided view of x (padded) that meets that kernel element."""
    spatial = x.shape[1:-1]
    out = [(n - (k - 1) * d - 1) // s + 1 for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)]
    for offset in np.ndindex(*kernel):
        index = tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                      for o, d, m, s in zip(offset, dilation, out, strides, strict=True))
        yield offset, x[(slice(None), *index)]


def conv(x, kernel, strides, padding, dilation):
    """Correlation of x (batch, *spatial, in) with kernel (*k, in, out)."""
    ks = kernel.shape[:-2]
    xp = pad_spatial(x, ks, strides, dilation, padding)
    total = 0.0
    for offset, view in windows(xp, ks, strides, dilation):
        total = total + view @ kernel[offset]
    return total


def depthwise(x, kernel, strides, padding, dilation):
    """kernel (*k, in, multiplier): each input channel with its own filters; out channel c*m + j."""
    ks, (cin, mult) = kernel.shape[:-2], kernel.shape[-2:]
    xp = pad_spatial(x, ks, strides, dilation, padding)
    total = 0.0
    for offset, view in windows(xp, ks, strides, dilation):
        total = total + view[..., :, None] * kernel[offset]
    return total.reshape(*total.shape[:-2], cin * mult)


def conv_transpose(x, kernel, strides, padding, out_spatial):
    """kernel (*k, out, in): each input pixel scatters kernel @ it, then TF's crop to out_spatial."""
    ks = kernel.shape[:-2]
    full_shape = [(n - 1) * s + k for n, s, k in zip(x.shape[1:-1], strides, ks, strict=True)]
    full = np.zeros((x.shape[0], *[max(f, o) for f, o in zip(full_shape, out_spatial, strict=True)], kernel.shape[-2]))
    for offset in np.ndindex(*ks):
        index = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(offset, x.shape[1:-1], strides, strict=True))
        full[(slice(None), *index)] += x @ kernel[offset].T
    starts = [same_padding(o, k, s, 1)[0] if padding == "same" else 0
              for o, k, s in zip(out_spatial, ks, strides, strict=True)]
    return full[(slice(None), *(slice(b, b + o) for b, o in zip(starts, out_spatial, strict=True)))]


def pool(x, size, strides, padding, mode):
    dil = (1,) * len(size)
    if mode == "max":
        xp = pad_spatial(x, size, strides, dil, padding, fill=-np.inf)
        return np.max([v for _, v in windows(xp, size, strides, dil)], axis=0)
    xp = pad_spatial(x, size, strides, dil, padding)
    ones = pad_spatial(np.ones((1, *x.shape[1:])), size, strides, dil, padding)
    total = np.sum([v for _, v in windows(xp, size, strides, dil)], axis=0)
    count = np.sum([v for _, v in windows(ones, size, strides, dil)], axis=0)
    return total / count


def run_rnn(step, x, states, mask, go_backwards):
    """(last output, outputs in processing order, final states); masked steps keep the previous
    output and states (zeros before the first)."""
    outs, prev = [], None
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for t in steps:
        out, new = step(x[:, t], states)
        if mask is not None:
            keep = mask[:, t, None]
            out = np.where(keep, out, np.zeros_like(out) if prev is None else prev)
            new = [np.where(keep, n, s) for n, s in zip(new, states, strict=True)]
        outs.append(out)
        states, prev = new, out
    return outs[-1], np.stack(outs, axis=1), states


class Reference:
    """model's forward pass in float64 from `values` ({id(weight variable): array}), which starts
    as the model's current weights and can be changed (central differences)."""

    def __init__(self, model, backend):
        self.model, self.K = model, backend
        self.values = {id(w): np.asarray(backend.get_value(w), np.float64) for w in model.weights}
        self.batch_stats = {}  # BatchNormalization layer name -> (mean, variance) of the last training run

    def w(self, variable):
        return self.values[id(variable)]

    def predict(self, *inputs, training=False):
        memo = {id(t): (np.asarray(v, np.float64), None) for t, v in zip(self.model.inputs, inputs, strict=True)}

        def value(t):
            if id(t) not in memo:
                layer, node_index, _ = t._keras_history
                node = layer._inbound_nodes[node_index]
                ins = [value(u) for u in node.input_tensors]
                outs = self.layer(layer, [v for v, _ in ins], [m for _, m in ins], training)
                for u, o in zip(node.output_tensors, outs if isinstance(outs, list) else [outs], strict=True):
                    if not isinstance(o, tuple):  # a layer that supports masking passes its input's on
                        passes = layer.supports_masking and len(ins) == 1
                        o = (o, ins[0][1] if passes else None)
                    memo[id(u)] = o
            return memo[id(t)]

        outs = [value(t)[0] for t in self.model.outputs]
        return outs[0] if len(outs) == 1 else outs

    def loss(self, x, y):
        """Keras's categorical cross-entropy (normalized, clipped), mean over the batch, training mode."""
        p = self.predict(x, training=True)
        p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
        return float(np.mean(-np.sum(y * np.log(p), axis=-1)))

    # -----------------------------------------------------------------------------------------

    def layer(self, layer, xs, masks, training):
        kind = type(layer).__name__
        cfg = layer.get_config()
        x = xs[0]
        if kind in ("InputLayer", "Dropout"):  # (dropout-free training in the tests that train)
            return x
        if kind == "Dense":
            out = x @ self.w(layer.kernel) + (self.w(layer.bias) if layer.use_bias else 0)
            return activation(cfg["activation"], out)
        if kind == "Activation":
            return activation(cfg["activation"], x)
        if kind == "ReLU":
            out = np.where(x >= cfg["threshold"], x, cfg["negative_slope"] * (x - cfg["threshold"]))
            return out if cfg["max_value"] is None else np.minimum(out, cfg["max_value"])
        if kind in ("Conv1D", "Conv2D", "Conv3D"):
            out = conv(x, self.w(layer.kernel), layer.strides, layer.padding, layer.dilation_rate)
            return activation(cfg["activation"], out + (self.w(layer.bias) if layer.use_bias else 0))
        if kind == "DepthwiseConv2D":
            out = depthwise(x, self.w(layer.depthwise_kernel), layer.strides, layer.padding, layer.dilation_rate)
            return activation(cfg["activation"], out + (self.w(layer.bias) if layer.use_bias else 0))
        if kind in ("SeparableConv1D", "SeparableConv2D"):
            mid = depthwise(x, self.w(layer.depthwise_kernel), layer.strides, layer.padding, layer.dilation_rate)
            out = mid @ self.w(layer.pointwise_kernel).reshape(-1, layer.filters)
            return activation(cfg["activation"], out + (self.w(layer.bias) if layer.use_bias else 0))
        if kind == "Conv2DTranspose":
            shape = layer.compute_output_shape(x.shape)
            out = conv_transpose(x, self.w(layer.kernel), layer.strides, layer.padding, shape[1:-1])
            return activation(cfg["activation"], out + (self.w(layer.bias) if layer.use_bias else 0))
        if kind in ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling2D", "AveragePooling3D"):
            return pool(x, layer.pool_size, layer.strides, layer.padding, "max" if "Max" in kind else "avg")
        if kind.startswith("Global"):
            axes = tuple(range(1, x.ndim - 1))
            return (x.max(axis=axes) if "Max" in kind else x.mean(axis=axes)), None
        if kind in ("UpSampling2D", "UpSampling3D"):
            for axis, n in enumerate(layer.size, start=1):
                x = np.repeat(x, n, axis=axis)
            return x
        if kind == "ZeroPadding2D":
            return np.pad(x, [(0, 0), *layer.padding, (0, 0)])
        if kind == "Cropping2D":
            (t, b), (left, r) = layer.cropping
            return x[:, t:x.shape[1] - b, left:x.shape[2] - r]
        if kind == "Flatten":
            return x.reshape(len(x), -1)
        if kind == "Reshape":
            return x.reshape(len(x), *layer.target_shape)
        if kind == "Add":
            return sum(xs)
        if kind == "Concatenate":
            return np.concatenate(xs, axis=layer.axis)
        if kind == "BatchNormalization":
            return self.batch_norm(layer, x, training)
        if kind == "Embedding":
            ids = np.asarray(x).astype(np.int64)
            return self.w(layer.embeddings)[ids], (ids != 0 if layer.mask_zero else None)
        if kind in ("SimpleRNN", "LSTM", "GRU"):
            out = self.recurrent(layer, x, masks[0], layer.go_backwards)
            return out, (masks[0] if layer.return_sequences else None)
        if kind == "Bidirectional":
            fwd = self.recurrent(layer.forward_layer, x, masks[0], False)
            bwd = self.recurrent(layer.backward_layer, x, masks[0], True)
            if layer.return_sequences:  # the backward outputs come in processing order
                bwd = bwd[:, ::-1]
            return np.concatenate([fwd, bwd], axis=-1), (masks[0] if layer.return_sequences else None)
        raise NotImplementedError(f"reference: layer {kind}")

    def batch_norm(self, layer, x, training):
        axes = tuple(a for a in range(x.ndim) if a != layer.axis % x.ndim)
        shape = [1] * x.ndim
        shape[layer.axis] = x.shape[layer.axis]
        gamma = self.w(layer.gamma).reshape(shape) if layer.scale else 1.0
        beta = self.w(layer.beta).reshape(shape) if layer.center else 0.0
        if training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            self.batch_stats[layer.name] = (mean, var, math.prod(x.shape[a] for a in axes))
        else:
            mean, var = self.w(layer.moving_mean), self.w(layer.moving_variance)
        return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + layer.epsilon) * gamma + beta

    def moving_statistics(self, layer):
        """Keras 2.3.1's moving mean and variance after one training step of the batch last run."""
        mean, var, n = self.batch_stats[layer.name]
        m = layer.momentum
        var = var * n / (n - (1.0 + layer.epsilon))
        return (self.w(layer.moving_mean) * m + mean * (1 - m), self.w(layer.moving_variance) * m + var * (1 - m))

    def recurrent(self, layer, x, mask, go_backwards):
        cell, kind = layer.cell, type(layer).__name__
        cfg = cell.get_config()
        W, U = self.w(cell.kernel), self.w(cell.recurrent_kernel)
        b = self.w(cell.bias) if cell.use_bias else np.zeros(W.shape[1])
        act, rec = cfg["activation"], cfg.get("recurrent_activation")
        units = cell.units
        if kind == "SimpleRNN":
            def step(x_t, states):
                h = activation(act, x_t @ W + states[0] @ U + b)
                return h, [h]
            states = [np.zeros((len(x), units))]
        elif kind == "LSTM":
            def step(x_t, states):
                h, c = states
                z = x_t @ W + h @ U + b
                i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
                c = activation(rec, f) * c + activation(rec, i) * activation(act, g)
                h = activation(rec, o) * activation(act, c)
                return h, [h, c]
            states = [np.zeros((len(x), units))] * 2
        else:  # GRU, reset_after=False (Keras 2.3.1's default) or True
            def step(x_t, states):
                h = states[0]
                bi, br = (b[0], b[1]) if b.ndim == 2 else (b, None)
                xz = x_t @ W + bi
                u = units
                if br is None:
                    z = activation(rec, xz[:, :u] + h @ U[:, :u])
                    r = activation(rec, xz[:, u:2 * u] + h @ U[:, u:2 * u])
                    hh = activation(act, xz[:, 2 * u:] + (r * h) @ U[:, 2 * u:])
                else:
                    hz = h @ U + br
                    z = activation(rec, xz[:, :u] + hz[:, :u])
                    r = activation(rec, xz[:, u:2 * u] + hz[:, u:2 * u])
                    hh = activation(act, xz[:, 2 * u:] + r * hz[:, 2 * u:])
                h = z * h + (1 - z) * hh
                return h, [h]
            states = [np.zeros((len(x), units))]
        last, seq, _ = run_rnn(step, x, states, mask, go_backwards)
        return seq if layer.return_sequences else last


def sgd_step_check(model, K, x, y, lr, per_weight=24, seed=0, h=1e-6):
    """Runs one full-batch SGD(lr) step of model.fit on (x, y) and returns the largest difference
    between the weights it produced and the weights minus lr times the reference loss's central
    differences (on up to per_weight entries of each trainable weight), and BatchNormalization's
    moving statistics against Keras's update rule; also the relative size of the step taken."""
    from keras.optimizers import SGD

    ref = Reference(model, K)
    rng = np.random.default_rng(seed)
    want = {}
    for w in model.trainable_weights:
        v = ref.values[id(w)]
        flat = [np.unravel_index(i, v.shape) for i in range(v.size)]
        pick = flat if len(flat) <= per_weight else [flat[i] for i in rng.choice(len(flat), per_weight, replace=False)]
        for idx in pick:
            base = v[idx]
            grad = 0.0
            for sign in (1, -1):
                v[idx] = base + sign * h
                grad += sign * ref.loss(x, y) / (2 * h)
            v[idx] = base
            want[(id(w), idx)] = base - lr * grad
    ref.loss(x, y)  # the batch statistics at the initial weights
    moving = {}
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            mm, mv = ref.moving_statistics(layer)
            moving[id(layer.moving_mean)], moving[id(layer.moving_variance)] = mm, mv
    model.compile(SGD(lr), "categorical_crossentropy")
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    now = {id(w): np.asarray(K.get_value(w), np.float64) for w in model.weights}
    err = max(abs(now[k][idx] - v) for (k, idx), v in want.items())
    step = max(abs(now[k][idx] - ref.values[k][idx]) for (k, idx) in want)
    moving_err = max((float(np.abs(now[k] - v).max()) for k, v in moving.items()), default=0.0)
    return float(err), float(step), moving_err
