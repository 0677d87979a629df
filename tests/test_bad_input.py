"""Bad arguments and unusual array views for every public function of the Keras 2 backend API
(issue #19), on both backends (`kcore` and `numpy`: one set of argument rules).

SPECS classifies each public function's parameters by role (a tensor, an axis, a shape, a dtype
name, a count, ...). Each bad-input row is one function, one parameter and one bad value of that
parameter's role, the other arguments being a call that succeeds (test_good_calls_succeed): the
call must raise TypeError, ValueError or IndexError whose message names the function -- never
OverflowError from a binding, a warning, another exception, or a result. Each view row runs an
array-taking function on big-endian, read-only, zero-stride, negative-stride, unaligned or
overlapping views of its arrays: the result must be the function's result on C-contiguous
native-order copies, and the views must be unchanged.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import inspect
import math
import pathlib
import re

import numpy as np
import pytest

import kcore.numpy_backend as KN
from kcore import backend as K

BACKENDS = {"kcore": K, "numpy": KN}


class Make:
    """A value built afresh for each call (variables, placeholders, graph tensors, context)."""

    def __init__(self, build):
        self.build = build

    def __call__(self, B):
        return self.build(B)


def concrete(v, B):
    if isinstance(v, Make):
        return v(B)
    if type(v) in (list, tuple):
        return type(v)(concrete(o, B) for o in v)
    return v


# ---------------------------------------------------------------------------------------------
# Bad values, by role

NOT_ARRAYS = [
    ("None", None), ("str", "abc"), ("bytes", b"abc"), ("object", object()), ("dict", {"a": 1.0}), ("set", {1.0}),
    ("ragged", [[1.0, 2.0], [3.0]]), ("ragged_depth", [1.0, [2.0, 3.0]]), ("datetime", datetime.datetime(2020, 1, 1)),
    ("object_array", np.array([1.0, None], dtype=object)), ("list_of_str", ["a", "b"]),
]
BAD_DTYPES = [
    ("complex_array", np.array([1 + 2j, 3j], np.complex64)), ("complex_scalar", 1j), ("complex_list", [1j, 2.0]),
    ("structured", np.zeros(3, [("a", "f4"), ("b", "i4")])), ("void", np.zeros(2, "V4")),
    ("datetime64", np.array(["2020-01-01", "2020-01-02"], "datetime64[D]")),
    ("timedelta64", np.array([1, 2], "timedelta64[s]")), ("str_array", np.array(["a", "b"])),
    ("bytes_array", np.array([b"a", b"b"])), ("longdouble", np.ones(3, np.longdouble)),
]
HUGE_INTS = [("wraps_int32", 2 ** 32 + 1), ("wraps_int64", 2 ** 64 + 1), ("huge_negative", -2 ** 63 - 1),
             ("huge", 2 ** 63), ("numpy_huge", np.uint64(2 ** 64 - 1))]
NOT_INTS = [("float", 1.0), ("numpy_float", np.float32(1.0)), ("bool", True), ("numpy_bool", np.bool_(True)),
            ("str", "1"), ("bytes", b"1"), ("complex", 1j), ("object", object()), ("set", {1})]

AXES = [
    ("out_of_range", 7), ("negative_out_of_range", -8), *HUGE_INTS, *NOT_INTS,
    ("duplicate", [1, 1]), ("duplicate_negative", [0, -3]), ("nested", [[0], 1]), ("float_in_list", [0, 1.0]),
    ("bool_in_list", [0, True]), ("huge_in_list", [0, 2 ** 64 + 1]), ("none_in_list", [0, None]),
    ("str_in_list", ["0"]), ("out_of_range_in_list", [0, 7]),
]
AXIS = [("None", None), ("list", [0]), *AXES]
COUNT = [("negative", -1), *HUGE_INTS, *NOT_INTS, ("None", None), ("list", [2]), ("numpy_float", np.float64(2.0)),
         ("array", np.array([2, 3]))]
SHAPE = [("negative", (2, -2)), ("minus_one", (-1, 3)), ("float", (2.5, 3)), ("numpy_float", (np.float64(2.0), 3)),
         ("bool", (True, 3)), ("str", "23"), ("str_dim", ("2", 3)), ("bytes", b"23"), ("nested", ((2,), 3)),
         ("None_dim", (None, 3)), ("huge", (2 ** 63,)), ("wraps_int64", (2 ** 64 + 1,)),
         ("huge_negative", (-2 ** 63 - 1,)), ("too_many_elements", (2 ** 32, 2 ** 32)), ("object", object()),
         ("float_scalar", 2.5), ("complex", (1j, 2)), ("set", {2, 3}), ("dict", {2: 3})]
RESHAPE = [r for r in SHAPE if r[0] != "minus_one"] + [("two_minus_ones", (-1, -1)), ("mismatched", (5, 5)),
                                                        ("None", None)]
DTYPE = [("float", "float"), ("complex64", "complex64"), ("string", "str"), ("object", "object"),
         ("float128", "float128"), ("unknown", "beerfloat"), ("int", 123), ("bytes", b"float32"),
         ("list", ["float32"]), ("numpy_complex", np.complex64), ("python_float", float), ("python_complex", complex),
         ("instance", object()), ("datetime", "datetime64[s]")]
NUMBER = [("None", None), ("str", "0.5"), ("bytes", b"0.5"), ("object", object()), ("complex", 1j),
          ("list", [0.5, 0.5]), ("str_array", np.array(["a"])), ("dict", {"a": 1})]
# Flags are read as TensorFlow reads them (bool(v): any number); text, containers and objects are refused.
FLAG = [("str", "yes"), ("str_false", "False"), ("bytes", b""), ("object", object()),
        ("array", np.array([True, False])), ("list", [True]), ("complex", 1j), ("numpy_complex", np.complex64(1))]
NAME = [("int", 123), ("bytes", b"x"), ("object", object()), ("list", ["a"])]
SEED = [("str", "1"), ("float", 1.5), ("huge", 2 ** 64 + 1), ("bool", True), ("object", object()),
        ("list", [1, 2])]
CALLABLE = [("None", None), ("int", 123), ("str", "abc"), ("object", object())]
DATA_FORMAT = [("unknown", "channels_middle"), ("int", 123), ("empty", ""), ("object", object()),
               ("bytes", b"channels_last"), ("list", ["channels_last"])]
PADDING_MODE = [("unknown", "full"), ("int", 1), ("None", None), ("object", object()), ("bytes", b"same"),
                ("list", ["same"])]
INTS = [("zero", 0), ("negative", -1), ("float", 1.5), ("bool", True), ("str", "1"), ("None", None),
        ("wrong_length", (1, 1, 1, 1)), ("huge", 2 ** 64 + 1), ("huge_in_tuple", (1, 2 ** 64 + 1)),
        ("wraps_int32", 2 ** 32 + 1), ("object", object()), ("nested", ((1,), 1)), ("numpy_float", np.float64(1.0))]
TENSORS = [("None", None), ("int", 123), ("str", "abc"), ("object", object()), ("empty", []),
           ("None_item", Make(lambda B: [X, None])), ("str_item", Make(lambda B: [X, "abc"])),
           ("complex_item", Make(lambda B: [X, X.astype(np.complex64)]))]
VARIABLE = [("array", np.ones((2, 3), np.float32)), ("None", None), ("int", 1), ("str", "abc"), ("object", object()),
            ("placeholder", Make(lambda B: B.placeholder((2, 3))))]
INDICES = [("float_indices", np.array([0.5, 1.0])), ("bool_indices", np.array([True, False]))]
PAIR = [("int", 1), ("one", (1,)), ("three", (1, 1, 1)), ("negative", (-1, 1)), ("float", (1.5, 1)),
        ("bool", (True, 1)), ("str", "11"), ("huge", (2 ** 64 + 1, 1)), ("None", None), ("object", object())]

TENSOR = NOT_ARRAYS + BAD_DTYPES

ROLES = {
    "tensor": TENSOR, "indices": TENSOR + INDICES, "lengths": TENSOR + [("fractional", np.array([0.5, 1.0]))],
    "value": [r for r in NOT_ARRAYS if r[0] not in ("object_array", "list_of_str")], "axes": AXES, "axis": AXIS,
    "count": COUNT, "shape": SHAPE, "reshape": RESHAPE, "dtype": DTYPE, "number": NUMBER, "flag": FLAG,
    "name": NAME, "seed": SEED, "callable": CALLABLE, "data_format": DATA_FORMAT, "padding_mode": PADDING_MODE,
    "ints": INTS, "tensors": TENSORS, "variable": VARIABLE, "pair": PAIR,
}

# ---------------------------------------------------------------------------------------------
# Arguments of calls that succeed

X = ((np.arange(24, dtype=np.float32).reshape(2, 3, 4) + 1) / 8)  # every value in (0, 4]: log and sqrt apply
M = X[0].copy()  # (3, 4)
X4 = ((np.arange(50, dtype=np.float32).reshape(1, 5, 5, 2) % 7) - 3) / 4  # an image batch (channels_last)
W2 = ((np.arange(54, dtype=np.float32).reshape(3, 3, 2, 3) % 5) - 2) / 4  # (kh, kw, in, out)
X5 = ((np.arange(96, dtype=np.float32).reshape(1, 4, 4, 3, 2) % 7) - 3) / 4
W3 = ((np.arange(24, dtype=np.float32).reshape(2, 2, 1, 2, 3) % 5) - 2) / 4
X3C = ((np.arange(20, dtype=np.float32).reshape(2, 5, 2) % 7) - 3) / 4  # (batch, steps, channels)
W1 = ((np.arange(18, dtype=np.float32).reshape(3, 2, 3) % 5) - 2) / 4  # (k, in, out)
IDX = np.array([0, 2, 1], np.int32)
PROBS = np.array([[[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.1, 0.1, 0.8]]] * 2, np.float32)  # (2 samples, 3 frames, 3)
LABELS = np.array([[0, 1], [1, 0]], np.int32)
LEN3 = np.array([[3], [3]], np.int32)
LEN2 = np.array([[2], [1]], np.int32)


def _variable(B):
    return B.variable(np.ones((2, 3), np.float32))


def _loss(B):
    v = B.variable(np.ones((2, 3), np.float32))
    return {"loss": B.sum(B.square(v)), "variables": [v]}


def _function(B):
    p = B.placeholder((2, 3))
    return {"inputs": [p], "outputs": [B.sum(p)], "updates": []}


def _step(x, states):
    return x * 2.0, [states[0] + x]


def spec(good, skip=(), extra=(), **roles):
    """good: the keyword arguments of a call that succeeds (a Make when they need a backend);
    roles: parameter -> role; skip: bad-value labels a parameter accepts ("param:label" or
    "label" for every parameter); extra: (label, overrides) rows of bad combinations."""
    return {"good": good, "roles": roles, "skip": set(skip), "extra": list(extra)}


NO_ARGS = spec({})
UNARY = spec({"x": X}, x="tensor")
BINARY = spec({"x": X, "y": M}, x="tensor", y="tensor", extra=[("mismatched_shapes", {"y": np.ones(5, np.float32)})])
REDUCTION = spec({"x": X, "axis": 1, "keepdims": False}, x="tensor", axis="axes", keepdims="flag")
CONV_EXTRA = [("channels_mismatch", {"kernel": np.ones((3, 3, 5, 2), np.float32)})]

SPECS = {
    # configuration and session state
    "backend": NO_ARGS, "epsilon": NO_ARGS, "floatx": NO_ARGS, "image_data_format": NO_ARGS,
    "image_dim_ordering": NO_ARGS, "reset_uids": NO_ARGS, "clear_session": NO_ARGS, "learning_phase": NO_ARGS,
    "set_epsilon": spec(Make(lambda B: {"e": B.epsilon()}), e="number"),
    "set_floatx": spec(Make(lambda B: {"floatx": B.floatx()}), floatx="dtype",
                       extra=[("integer_type", {"floatx": "int32"})]),
    "set_image_data_format": spec(Make(lambda B: {"data_format": B.image_data_format()}), data_format="data_format"),
    "set_image_dim_ordering": spec(Make(lambda B: {"dim_ordering": B.image_dim_ordering()}),
                                   dim_ordering="data_format"),
    "normalize_data_format": spec({"value": "channels_last"}, value="data_format"),
    "get_uid": spec({"prefix": "x"}, prefix="name", extra=[("None", {"prefix": None})]),
    "set_learning_phase": spec(Make(lambda B: {"value": 0}), value="flag",
                               extra=[("None", {"value": None}), ("minus_one", {"value": -1}), ("two", {"value": 2}),
                                      ("half", {"value": 0.5})]),
    "manual_variable_initialization": spec({"value": False}, value="flag"),
    "symbolic": spec({"func": len}, func="callable"),
    "eager": spec({"func": len}, func="callable"),
    "name_scope": spec({"name": "scope"}, name="name", extra=[("None", {"name": None}), ("empty", {"name": ""})]),
    "control_dependencies": spec(Make(lambda B: {"control_inputs": [_variable(B)]}), control_inputs="tensors",
                                 skip={"control_inputs:None", "control_inputs:empty"}),
    # values
    "variable": spec({"value": M, "dtype": None, "name": "v", "constraint": None}, value="tensor", dtype="dtype",
                     name="name", constraint="callable", skip={"constraint:None"}),
    "constant": spec({"value": M, "dtype": None, "shape": None, "name": "c"}, value="tensor", dtype="dtype",
                     shape="shape", name="name", extra=[("mismatched_shape", {"shape": (5, 5)})]),
    "placeholder": spec({"shape": (None, 3), "ndim": None, "dtype": None, "sparse": False, "name": "p"},
                        shape="shape", ndim="count", dtype="dtype", sparse="flag", name="name",
                        skip={"shape:None_dim", "shape:too_many_elements", "ndim:None"}),  # (a shape, no data)
    "is_placeholder": spec({"x": M}), "is_variable": spec({"x": M}), "is_tensor": spec({"x": M}),
    "is_sparse": spec({"tensor": M}), "to_dense": spec({"tensor": M}),
    "is_keras_tensor": spec(Make(lambda B: {"x": _variable(B)}), x="tensor",
                            extra=[("array", {"x": M}), ("number", {"x": 1.0})]),
    "int_shape": spec({"x": M}, x="value"), "ndim": spec({"x": M}, x="value"), "dtype": spec({"x": M}, x="value"),
    "count_params": spec({"x": M}, x="value"), "get_variable_shape": spec({"x": M}, x="value"),
    "eval": spec({"x": M}, x="tensor"), "get_value": spec({"x": M}, x="tensor"),
    "batch_get_value": spec({"ops": [M]}, ops="tensors", skip={"ops:None", "ops:empty"}),
    "set_value": spec(Make(lambda B: {"x": _variable(B), "value": np.zeros((2, 3))}), x="variable", value="tensor",
                      extra=[("mismatched_shape", {"value": np.zeros((3, 3))})]),
    "batch_set_value": spec(Make(lambda B: {"tuples": [(_variable(B), np.zeros((2, 3)))]}), tuples="tensors",
                            skip={"tuples:None", "tuples:empty"},
                            extra=[("short_pair", {"tuples": Make(lambda B: [(_variable(B),)])}),
                                   ("not_a_variable", {"tuples": [(M, M)]}),
                                   ("mismatched_shape", {"tuples": Make(lambda B: [(_variable(B), np.zeros(5))])})]),
    "update": spec(Make(lambda B: {"x": _variable(B), "new_x": np.zeros((2, 3))}), x="variable", new_x="tensor",
                   extra=[("mismatched_shape", {"new_x": np.zeros((3, 3))})]),
    "update_add": spec(Make(lambda B: {"x": _variable(B), "increment": np.zeros((2, 3))}), x="variable",
                       increment="tensor", extra=[("mismatched_shape", {"increment": np.zeros((3, 3))})]),
    "update_sub": spec(Make(lambda B: {"x": _variable(B), "decrement": np.zeros((2, 3))}), x="variable",
                       decrement="tensor", extra=[("mismatched_shape", {"decrement": np.zeros((3, 3))})]),
    "moving_average_update": spec(Make(lambda B: {"x": _variable(B), "value": np.zeros((2, 3)), "momentum": 0.9}),
                                  x="variable", value="tensor", momentum="number",
                                  extra=[("mismatched_shape", {"value": np.zeros((3, 3))})]),
    "function": spec(Make(_function), inputs="tensors", outputs="tensors", updates="tensors",
                     skip={"updates:None", "updates:empty", "outputs:empty", "outputs:int"},  # (constant outputs)
                     extra=[("input_not_placeholder", {"inputs": [M]}), ("update_not_pair", {"updates": [(1, 2)]})]),
    "zeros": spec({"shape": (2, 3), "dtype": None, "name": "z"}, shape="shape", dtype="dtype", name="name"),
    "ones": spec({"shape": (2, 3), "dtype": None, "name": "o"}, shape="shape", dtype="dtype", name="name"),
    "eye": spec({"size": 3, "dtype": None, "name": "e"}, size="count", dtype="dtype", name="name",
                skip={"size:list"}, extra=[("three_sizes", {"size": (2, 3, 4)}), ("float_pair", {"size": (2.5, 3)}),
                                           ("huge_pair", {"size": (2 ** 64 + 1, 2)})]),
    "random_uniform_variable": spec({"shape": (2, 3), "low": 0.0, "high": 1.0, "dtype": None, "name": "r", "seed": 1},
                                    shape="shape", low="number", high="number", dtype="dtype", name="name",
                                    seed="seed"),
    "random_normal_variable": spec({"shape": (2, 3), "mean": 0.0, "scale": 1.0, "dtype": None, "name": "r", "seed": 1},
                                   shape="shape", mean="number", scale="number", dtype="dtype", name="name",
                                   seed="seed"),
    "random_uniform": spec({"shape": (2, 3), "minval": 0.0, "maxval": 1.0, "dtype": None, "seed": 1}, shape="shape",
                           minval="number", maxval="number", dtype="dtype", seed="seed"),
    "random_normal": spec({"shape": (2, 3), "mean": 0.0, "stddev": 1.0, "dtype": None, "seed": 1}, shape="shape",
                          mean="number", stddev="number", dtype="dtype", seed="seed"),
    "truncated_normal": spec({"shape": (2, 3), "mean": 0.0, "stddev": 1.0, "dtype": None, "seed": 1}, shape="shape",
                             mean="number", stddev="number", dtype="dtype", seed="seed"),
    "random_binomial": spec({"shape": (2, 3), "p": 0.5, "dtype": None, "seed": 1}, shape="shape", p="number",
                            dtype="dtype", seed="seed"),
    "arange": spec({"start": 0, "stop": 5, "step": 1, "dtype": "int32"}, start="number", stop="number", step="number",
                   dtype="dtype", skip={"stop:None"},
                   extra=[("zero_step", {"step": 0}), ("huge_stop", {"stop": 2 ** 64 + 1}),
                          ("too_many_elements", {"stop": 2 ** 62})]),
    "shape": UNARY, "size": spec({"x": X, "name": None}, x="tensor", name="name"),
    "zeros_like": spec({"x": X, "dtype": None, "name": None}, x="tensor", dtype="dtype", name="name"),
    "ones_like": spec({"x": X, "dtype": None, "name": None}, x="tensor", dtype="dtype", name="name"),
    "identity": spec({"x": X, "name": None}, x="tensor", name="name"),
    # reductions and scans
    **dict.fromkeys(("sum", "prod", "mean", "max", "min", "var", "std", "any", "all", "logsumexp"), REDUCTION),
    "argmax": spec({"x": X, "axis": -1}, x="tensor", axis="axis", skip={"axis:None"}),
    "argmin": spec({"x": X, "axis": -1}, x="tensor", axis="axis", skip={"axis:None"}),
    "cumsum": spec({"x": X, "axis": 0}, x="tensor", axis="axis"),
    "cumprod": spec({"x": X, "axis": 0}, x="tensor", axis="axis"),
    # layout
    "transpose": UNARY,
    "permute_dimensions": spec({"x": X, "pattern": (2, 0, 1)}, x="tensor", pattern="axes",
                               extra=[("short", {"pattern": (0, 1)}), ("long", {"pattern": (0, 1, 2, 3)}),
                                      ("int", {"pattern": 0}), ("None", {"pattern": None}),
                                      ("huge_in_tuple", {"pattern": (0, 1, 2 ** 64 + 2)})]),
    "cast": spec({"x": X, "dtype": "float64"}, x="tensor", dtype="dtype", extra=[("None", {"dtype": None})]),
    "cast_to_floatx": UNARY,
    # elementwise
    **dict.fromkeys(("abs", "exp", "log", "sqrt", "square", "round", "sign", "sin", "cos", "tanh", "sigmoid",
                     "hard_sigmoid", "softplus", "softsign"), UNARY),
    "elu": spec({"x": X, "alpha": 1.0}, x="tensor", alpha="number"),
    "relu": spec({"x": X, "alpha": 0.0, "max_value": None, "threshold": 0.0}, x="tensor", alpha="number",
                 max_value="number", threshold="number", skip={"max_value:None"}),
    "softmax": spec({"x": X, "axis": -1}, x="tensor", axis="axis", skip={"axis:None"}),
    "pow": spec({"x": X, "a": 2.0}, x="tensor", a="number"),
    "clip": spec({"x": X, "min_value": 0.5, "max_value": 2.0}, x="tensor", min_value="number", max_value="number",
                 skip={"None"}),
    **dict.fromkeys(("equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "maximum",
                     "minimum"), BINARY),
    "dot": spec({"x": M, "y": M.T.copy()}, x="tensor", y="tensor", extra=[("mismatched_shapes", {"y": M})]),
    "batch_dot": spec({"x": X, "y": X, "axes": 2}, x="tensor", y="tensor", axes="axes",
                      skip={"axes:duplicate", "axes:duplicate_negative"},
                      extra=[("batch_axis", {"axes": 0}), ("three_axes", {"axes": [1, 2, 2]}),
                             ("mismatched_shapes", {"axes": (2, 1)}), ("mismatched_batch", {"y": X[:1]})]),
    # activations, losses, training helpers
    "categorical_crossentropy": spec({"target": M, "output": M, "from_logits": False, "axis": -1}, target="tensor",
                                     output="tensor", from_logits="flag", axis="axis", skip={"axis:None"},
                                     extra=[("mismatched_shapes", {"target": X})]),
    "sparse_categorical_crossentropy": spec({"target": np.array([0, 3, 1]), "output": M, "from_logits": False,
                                             "axis": -1}, target="tensor", output="tensor", from_logits="flag",
                                            axis="axis", skip={"axis:None"},
                                            extra=[("mismatched_shapes", {"target": np.array([0, 1])}),
                                                   ("label_out_of_range", {"target": np.array([0, 9, 1])})]),
    "binary_crossentropy": spec({"target": M, "output": M / 4, "from_logits": False}, target="tensor",
                                output="tensor", from_logits="flag", extra=[("mismatched_shapes", {"target": X})]),
    "l2_normalize": spec({"x": X, "axis": -1}, x="tensor", axis="axes", skip={"axis:None"}),
    "bias_add": spec({"x": X, "bias": np.ones(4, np.float32), "data_format": None}, x="tensor", bias="tensor",
                     data_format="data_format", extra=[("mismatched_bias", {"bias": np.ones(5, np.float32)})]),
    "stop_gradient": spec({"variables": X}, variables="tensor", skip={"ragged", "ragged_depth"}),  # (lists of tensors)
    "print_tensor": spec({"x": X, "message": ""}, x="tensor"),  # (the message: anything that prints)
    "in_train_phase": spec({"x": 1, "alt": 2, "training": 1}, training="flag"),
    "in_test_phase": spec({"x": 1, "alt": 2, "training": 1}, training="flag"),
    "dropout": spec({"x": X, "level": 0.5, "noise_shape": None, "seed": 1}, x="tensor", level="number",
                    noise_shape="shape", seed="seed",
                    extra=[("level_one", {"level": 1.0}), ("level_negative", {"level": -0.1}),
                           ("noise_shape_mismatched", {"noise_shape": (2, 5, 4)})]),
    # shapes
    # (A negative concatenate axis counts modulo the rank, as in Keras 2.3.1's TensorFlow backend.)
    "concatenate": spec({"tensors": [X, X], "axis": -1}, tensors="tensors", axis="axis",
                        skip={"axis:negative_out_of_range", "axis:huge_negative"},
                        extra=[("mismatched_shapes", {"tensors": [X, M]})]),
    "stack": spec({"x": [X, X], "axis": 0}, x="tensors", axis="axis",
                  extra=[("mismatched_shapes", {"x": [X, X[:1]]})]),
    "reshape": spec({"x": X, "shape": (4, 6)}, x="tensor", shape="reshape"),
    "expand_dims": spec({"x": X, "axis": -1}, x="tensor", axis="axis"),
    "squeeze": spec({"x": X[:, :1], "axis": 1}, x="tensor", axis="axis", extra=[("not_size_one", {"axis": 0})]),
    "flatten": UNARY, "batch_flatten": UNARY,
    "repeat": spec({"x": M, "n": 2}, x="tensor", n="count", extra=[("rank_three", {"x": X})]),
    "repeat_elements": spec({"x": X, "rep": 2, "axis": 1}, x="tensor", rep="count", axis="axis"),
    "tile": spec({"x": X, "n": (1, 2, 1)}, x="tensor", n="shape", skip={"n:minus_one", "n:float_scalar"},
                 extra=[("too_long", {"n": (1, 1, 1, 2)}), ("negative_int", {"n": -1}), ("float", {"n": 2.0})]),
    "temporal_padding": spec({"x": X, "padding": (1, 2)}, x="tensor", padding="pair"),
    "spatial_2d_padding": spec({"x": X4, "padding": ((1, 1), (0, 2)), "data_format": None}, x="tensor",
                               padding="pair", data_format="data_format",
                               extra=[("flat_pair", {"padding": (1, 1)}),
                                      ("negative", {"padding": ((1, -1), (0, 0))})]),
    "spatial_3d_padding": spec({"x": X5, "padding": ((1, 1), (0, 2), (1, 0)), "data_format": None}, x="tensor",
                               padding="pair", data_format="data_format",
                               extra=[("negative", {"padding": ((1, -1), (0, 0), (0, 0))})]),
    "one_hot": spec({"indices": IDX, "num_classes": 3}, indices="indices", num_classes="count"),
    "reverse": spec({"x": X, "axes": 1}, x="tensor", axes="axes",
                    extra=[("None", {"axes": None}), ("duplicate_int_list", {"axes": (1, 1)})]),
    "slice": spec({"x": X, "start": (0, 1, 0), "size": (2, 2, -1)}, x="tensor", start="shape", size="shape",
                  skip={"size:minus_one"},
                  extra=[("short_start", {"start": (0, 1)}), ("start_past_end", {"start": (0, 5, 0)}),
                         ("size_past_end", {"size": (2, 3, 9)}),
                         ("size_minus_two", {"size": (2, -2, 1)})]),
    "switch": spec({"condition": X > 1, "then_expression": X, "else_expression": -X}, condition="tensor",
                   then_expression="tensor", else_expression="tensor",
                   extra=[("mismatched_shapes", {"else_expression": np.ones(5, np.float32)})]),
    "gather": spec({"reference": X, "indices": np.array([1, 0])}, reference="tensor", indices="indices",
                   extra=[("out_of_range", {"indices": np.array([2])}), ("scalar_reference", {"reference": 1.0})]),
    "batch_gather": spec({"reference": M, "indices": np.array([[0, 2], [1, 1], [3, 0]])}, reference="tensor",
                         indices="indices", extra=[("out_of_range", {"indices": np.array([[0], [1], [4]])}),
                                                   ("mismatched_batch", {"indices": np.array([[0], [1]])})]),
    # convolutions, pooling, resizing, normalization
    "conv1d": spec({"x": X3C, "kernel": W1, "strides": 1, "padding": "valid", "data_format": None, "dilation_rate": 1},
                   x="tensor", kernel="tensor", strides="ints", padding="padding_mode", data_format="data_format",
                   dilation_rate="ints", extra=[("channels_mismatch", {"kernel": np.ones((3, 5, 2), np.float32)})]),
    "conv2d": spec({"x": X4, "kernel": W2, "strides": (1, 1), "padding": "same", "data_format": None,
                    "dilation_rate": (1, 1)}, x="tensor", kernel="tensor", strides="ints", padding="padding_mode",
                   data_format="data_format", dilation_rate="ints", extra=CONV_EXTRA),
    "conv3d": spec({"x": X5, "kernel": W3, "strides": (1, 1, 1), "padding": "valid", "data_format": None,
                    "dilation_rate": (1, 1, 1)}, x="tensor", kernel="tensor", strides="ints", padding="padding_mode",
                   data_format="data_format", dilation_rate="ints"),
    "conv2d_transpose": spec({"x": X4, "kernel": np.ones((3, 3, 4, 2), np.float32), "output_shape": (1, 7, 7, 4),
                              "strides": (1, 1), "padding": "valid", "data_format": None, "dilation_rate": (1, 1)},
                             x="tensor", kernel="tensor", output_shape="shape", strides="ints",
                             padding="padding_mode", data_format="data_format", dilation_rate="ints",
                             skip={"output_shape:None_dim"},
                             extra=[("output_shape_mismatch", {"output_shape": (1, 9, 9, 4)})]),
    "conv3d_transpose": spec({"x": X5, "kernel": np.ones((2, 2, 2, 3, 2), np.float32),
                              "output_shape": (1, 5, 5, 4, 3), "strides": (1, 1, 1), "padding": "valid",
                              "data_format": None}, x="tensor", kernel="tensor", output_shape="shape",
                             strides="ints", padding="padding_mode", data_format="data_format",
                             skip={"output_shape:None_dim"}),
    "depthwise_conv2d": spec({"x": X4, "depthwise_kernel": np.ones((3, 3, 2, 2), np.float32), "strides": (1, 1),
                              "padding": "valid", "data_format": None, "dilation_rate": (1, 1)}, x="tensor",
                             depthwise_kernel="tensor", strides="ints", padding="padding_mode",
                             data_format="data_format", dilation_rate="ints"),
    "separable_conv1d": spec({"x": X3C, "depthwise_kernel": np.ones((3, 2, 1), np.float32),
                              "pointwise_kernel": np.ones((1, 2, 3), np.float32), "strides": 1, "padding": "valid",
                              "data_format": None, "dilation_rate": 1}, x="tensor", depthwise_kernel="tensor",
                             pointwise_kernel="tensor", strides="ints", padding="padding_mode",
                             data_format="data_format", dilation_rate="ints"),
    "separable_conv2d": spec({"x": X4, "depthwise_kernel": np.ones((3, 3, 2, 1), np.float32),
                              "pointwise_kernel": np.ones((1, 1, 2, 3), np.float32), "strides": (1, 1),
                              "padding": "valid", "data_format": None, "dilation_rate": (1, 1)}, x="tensor",
                             depthwise_kernel="tensor", pointwise_kernel="tensor", strides="ints",
                             padding="padding_mode", data_format="data_format", dilation_rate="ints",
                             extra=[("pointwise_mismatch", {"pointwise_kernel": np.ones((1, 1, 5, 3), np.float32)})]),
    "pool2d": spec({"x": X4, "pool_size": (2, 2), "strides": (1, 1), "padding": "valid", "data_format": None,
                    "pool_mode": "max"}, x="tensor", pool_size="ints", strides="ints", padding="padding_mode",
                   data_format="data_format", pool_mode="padding_mode"),
    "pool3d": spec({"x": X5, "pool_size": (2, 2, 2), "strides": (1, 1, 1), "padding": "valid", "data_format": None,
                    "pool_mode": "avg"}, x="tensor", pool_size="ints", strides="ints", padding="padding_mode",
                   data_format="data_format", pool_mode="padding_mode"),
    "local_conv1d": spec({"inputs": X3C, "kernel": np.ones((3, 6, 2), np.float32), "kernel_size": (3,),
                          "strides": (1,), "data_format": None}, inputs="tensor", kernel="tensor", kernel_size="ints",
                         strides="ints", data_format="data_format",
                         extra=[("kernel_mismatch", {"kernel": np.ones((4, 6, 2), np.float32)})]),
    "local_conv2d": spec({"inputs": X4, "kernel": np.ones((16, 8, 3), np.float32), "kernel_size": (2, 2),
                          "strides": (1, 1), "output_shape": (4, 4), "data_format": None}, inputs="tensor",
                         kernel="tensor", kernel_size="ints", strides="ints", output_shape="ints",
                         data_format="data_format", skip={"output_shape:zero", "output_shape:None"},
                         extra=[("output_shape_mismatch", {"output_shape": (3, 3)})]),
    "resize_images": spec({"x": X4, "height_factor": 2, "width_factor": 3, "data_format": "channels_last",
                           "interpolation": "nearest"}, x="tensor", height_factor="count", width_factor="count",
                          data_format="data_format", interpolation="padding_mode",
                          extra=[("zero_factor", {"height_factor": 0})]),
    "resize_volumes": spec({"x": X5, "depth_factor": 2, "height_factor": 1, "width_factor": 2,
                            "data_format": "channels_last"}, x="tensor", depth_factor="count",
                           height_factor="count", width_factor="count", data_format="data_format"),
    "batch_normalization": spec({"x": X, "mean": np.ones(4, np.float32), "var": np.ones(4, np.float32),
                                 "beta": np.zeros(4, np.float32), "gamma": np.ones(4, np.float32), "axis": -1,
                                 "epsilon": 1e-3}, x="tensor", mean="tensor", var="tensor", beta="tensor",
                                gamma="tensor", axis="axis", epsilon="number",
                                skip={"beta:None", "gamma:None", "axis:None"},
                                extra=[("mismatched_mean", {"mean": np.ones(5, np.float32)})]),
    "normalize_batch_in_training": spec({"x": X, "gamma": np.ones(4, np.float32), "beta": np.zeros(4, np.float32),
                                         "reduction_axes": [0, 1], "epsilon": 1e-3}, x="tensor", gamma="tensor",
                                        beta="tensor", reduction_axes="axes", epsilon="number",
                                        skip={"beta:None", "gamma:None"},
                                        extra=[("None", {"reduction_axes": None}), ("empty", {"reduction_axes": []}),
                                               ("mismatched_gamma", {"gamma": np.ones(5, np.float32)})]),
    "in_top_k": spec({"predictions": M, "targets": IDX, "k": 2}, predictions="tensor", targets="indices", k="count",
                     extra=[("mismatched_targets", {"targets": np.array([0, 1])})]),
    # connectionist temporal classification
    "ctc_batch_cost": spec({"y_true": LABELS, "y_pred": PROBS, "input_length": LEN3, "label_length": LEN2},
                           y_true="tensor", y_pred="tensor", input_length="lengths", label_length="lengths",
                           extra=[("length_past_end", {"input_length": np.array([[4], [3]])}),
                                  ("negative_length", {"label_length": np.array([[-1], [1]])})]),
    "ctc_decode": spec({"y_pred": PROBS, "input_length": np.array([3, 2]), "greedy": False, "beam_width": 3,
                        "top_paths": 2, "merge_repeated": False}, y_pred="tensor", input_length="lengths",
                       greedy="flag", beam_width="count", top_paths="count", merge_repeated="flag",
                       extra=[("top_paths_above_beam_width", {"top_paths": 4}), ("zero_beam_width", {"beam_width": 0}),
                              ("mismatched_lengths", {"input_length": np.array([3])})]),
    "ctc_label_dense_to_sparse": spec({"labels": LABELS, "label_lengths": np.array([2, 1])}, labels="tensor",
                                      label_lengths="lengths",
                                      extra=[("mismatched_lengths", {"label_lengths": np.array([2])})]),
    # gradients and loops
    "gradients": spec(Make(_loss), loss="tensor", variables="tensors", skip={"variables:empty"},
                      extra=[("array_loss", {"loss": 1.0})]),
    "rnn": spec({"step_function": _step, "inputs": X, "initial_states": [np.zeros((2, 4), np.float32)],
                 "go_backwards": False, "mask": None, "constants": None, "unroll": False, "input_length": None},
                step_function="callable", inputs="tensor", initial_states="tensors", go_backwards="flag",
                mask="tensor", constants="tensors", unroll="flag", input_length="count",
                skip={"mask:None", "constants:None", "constants:empty", "initial_states:empty", "initial_states:None",
                      "input_length:None"},
                extra=[("rank_one_inputs", {"inputs": np.ones(3, np.float32)}),
                       ("mismatched_mask", {"mask": np.ones((2, 5), bool)})]),
    "map_fn": spec({"fn": np.negative, "elems": X, "name": None, "dtype": None}, fn="callable", elems="tensor",
                   name="name", dtype="dtype"),
    "foldl": spec({"fn": np.add, "elems": X, "initializer": None, "name": None}, fn="callable", elems="tensor",
                  initializer="tensor", name="name", skip={"initializer:None"}),
    "foldr": spec({"fn": np.add, "elems": X, "initializer": None, "name": None}, fn="callable", elems="tensor",
                  initializer="tensor", name="name", skip={"initializer:None"}),
}

# Parameters that take any value, as on TensorFlow: what is only passed through or printed, and
# the questions about an object's kind.
PASS_THROUGH = {"print_tensor": {"message"}, "in_train_phase": {"x", "alt"}, "in_test_phase": {"x", "alt"},
                "function": {"kwargs"}, "is_placeholder": {"x"}, "is_variable": {"x"}, "is_tensor": {"x"},
                "is_sparse": {"tensor"}, "to_dense": {"tensor"}}


def public_functions(B) -> list:
    return sorted(name for name, v in vars(B).items() if not name.startswith("_") and callable(v)
                  and not isinstance(v, type))


def rows():
    out = []
    for name, s in SPECS.items():
        for param, role in s["roles"].items():
            for label, bad in ROLES[role]:
                if label in s["skip"] or f"{param}:{label}" in s["skip"]:
                    continue
                out.append(pytest.param(name, {param: bad}, id=f"{name}-{param}-{label}"))
        for label, overrides in s["extra"]:
            out.append(pytest.param(name, overrides, id=f"{name}-{label}"))
    return out


ROWS = rows()


def call(B, name, overrides):
    s = SPECS[name]
    good = s["good"](B) if isinstance(s["good"], Make) else dict(s["good"])
    good.update({k: concrete(v, B) for k, v in overrides.items()})
    f = getattr(B, name)
    if name in ("name_scope", "control_dependencies"):  # context managers check on entry
        with f(**good) as r:
            return r
    return f(**good)


@pytest.fixture(autouse=True)
def _restore_settings():
    """Keeps every row from changing settings or state for the next one."""
    saved = (K.epsilon(), K.floatx(), K.image_data_format())
    from kcore import _state

    phase, manual = _state.learning_phase, _state.manual_variable_initialization
    yield
    K.set_epsilon(saved[0])
    K.set_floatx(saved[1])
    K.set_image_data_format(saved[2])
    _state.learning_phase, _state.manual_variable_initialization = phase, manual


def test_every_public_function_is_classified():
    # A new public function must get a row in SPECS (its parameters' roles) before it ships.
    for B in BACKENDS.values():
        names = public_functions(B)
        assert sorted(SPECS) == names, (sorted(set(names) - set(SPECS)), sorted(set(SPECS) - set(names)))
        unclassified = {}
        for name in names:
            params = set(inspect.signature(getattr(B, name)).parameters)
            classified = set(SPECS[name]["roles"]) | PASS_THROUGH.get(name, set())
            if classified != params:
                unclassified[name] = (sorted(params - classified), sorted(classified - params))
        assert not unclassified


def test_the_surface_covers_keras_2_3_1():
    # Every name Keras 2.3.1's keras/backend/__init__.py imports (read, not imported) is classified.
    try:
        version = importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version != "2.3.1":
        pytest.skip("needs Keras 2.3.1 (pip install '.[keras]')")
    root = pathlib.Path(importlib.util.find_spec("keras").submodule_search_locations[0]) / "backend"
    keras_names = set(re.findall(r"from \.load_backend import (\w+)", (root / "__init__.py").read_text()))
    keras_names -= {"pattern_broadcast", "get_session", "set_session"}  # Theano's and TensorFlow's own
    assert keras_names <= set(SPECS), sorted(keras_names - set(SPECS))


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("name", sorted(SPECS))
def test_good_calls_succeed(name, backend):
    # The calls each bad row changes one argument of: so each row's error is that argument's.
    call(BACKENDS[backend], name, {})


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("name,overrides", ROWS)
def test_bad_input_raises_a_named_error(name, overrides, backend):
    B = BACKENDS[backend]
    try:
        result = call(B, name, overrides)
    except (TypeError, ValueError, IndexError) as e:  # (OverflowError is none of them: it fails the row)
        assert re.search(rf"(^|\W){re.escape(name)}\b", str(e)), f"{type(e).__name__} does not name {name}: {e}"
        return
    pytest.fail(f"{name}{overrides!r} returned {result!r}")


# ---------------------------------------------------------------------------------------------
# Views


def _big_endian(a):
    return a.astype(a.dtype.newbyteorder(">" if a.dtype.byteorder in "=<|" else "<"))


def _read_only(a):
    v = a.copy()
    v.flags.writeable = False
    return v


def _zero_stride(a):
    return np.broadcast_to(a[:1], a.shape) if a.ndim else a


def _negative_stride(a):
    return np.flip(np.flip(a, 0).copy(), 0) if a.ndim else a  # same values, every first-axis stride negative


def _unaligned(a):
    buf = np.zeros(a.nbytes + 1, np.uint8)
    v = buf[1:].view(a.dtype).reshape(a.shape)
    v[...] = a
    return v


def _overlapping(a):
    if a.ndim < 2:
        return a
    flat = np.ascontiguousarray(a).reshape(-1)
    n = sum(d - 1 for d in a.shape) + 1
    base = np.resize(flat, n)  # element [i, j, k] is base[i + j + k]: neighbouring windows share elements
    return np.lib.stride_tricks.as_strided(base, a.shape, (base.itemsize,) * a.ndim, writeable=False)


VIEWS = {"big_endian": _big_endian, "read_only": _read_only, "zero_stride": _zero_stride,
         "negative_stride": _negative_stride, "unaligned": _unaligned, "overlapping": _overlapping}

# Functions whose result is not a function of their arrays alone (random, stateful, printing).
NOT_PURE = {"dropout", "random_uniform", "random_normal", "truncated_normal", "random_binomial", "set_value",
            "batch_set_value", "update", "update_add", "update_sub", "moving_average_update", "print_tensor",
            "random_uniform_variable", "random_normal_variable", "to_dense"}  # (to_dense: its input, as given)
# Results that may differ in the last bits from the contiguous input's (a different summation order).
ROUNDING = {"sum", "prod", "mean", "var", "std", "logsumexp", "l2_normalize", "dot", "batch_dot", "softmax",
            "categorical_crossentropy", "sparse_categorical_crossentropy", "conv1d", "conv2d", "conv3d",
            "conv2d_transpose", "conv3d_transpose", "depthwise_conv2d", "separable_conv1d", "separable_conv2d",
            "pool3d", "local_conv1d", "local_conv2d", "batch_normalization", "normalize_batch_in_training",
            "cumsum", "cumprod", "ctc_batch_cost", "ctc_decode"}


def view_rows():
    out = []
    for name, s in SPECS.items():
        if name in NOT_PURE or isinstance(s["good"], Make) or name == "rnn":
            continue
        if any(isinstance(v, np.ndarray) and v.ndim for v in s["good"].values()):
            out += [pytest.param(name, kind, id=f"{name}-{kind}") for kind in VIEWS]
    return out


VIEW_ROWS = view_rows()


def _flat(r) -> list:
    """A result as a list of arrays (tuples, lists and sparse values unpacked; variables read)."""
    if isinstance(r, (list, tuple)):
        return [a for item in r for a in _flat(item)]
    if hasattr(r, "dense_shape"):
        return [r.indices, r.values, np.asarray(r.dense_shape)]
    return [np.asarray(r)]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("name,kind", VIEW_ROWS)
def test_views_give_the_contiguous_result_and_stay_unchanged(name, kind, backend):
    B = BACKENDS[backend]
    good = SPECS[name]["good"]
    views = {k: VIEWS[kind](v) if isinstance(v, np.ndarray) else v for k, v in good.items()}
    plain = {k: np.ascontiguousarray(v, v.dtype.newbyteorder("=")) if isinstance(v, np.ndarray) else v
             for k, v in views.items()}
    before = {k: v.tobytes() for k, v in views.items() if isinstance(v, np.ndarray)}
    got, want = _flat(getattr(B, name)(**views)), _flat(getattr(B, name)(**plain))
    assert {k: v.tobytes() for k, v in views.items() if isinstance(v, np.ndarray)} == before
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        if name in ROUNDING and g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=4 * np.finfo(g.dtype).eps * max(8, math.isqrt(g.size + 1)),
                                       atol=1e-6)
        else:
            np.testing.assert_array_equal(g, w)
