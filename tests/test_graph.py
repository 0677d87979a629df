"""Placeholders, static shape inference and K.function."""
import numpy as np
import pytest

from kcore import backend as K

BATCH_DOT_SHAPES = [((None, 3, 4, 5), (None, 2, 3, 4), (2, 3)), ((None, 3, 4, 5), (None, 2, 4), 2),
                    ((None, 3, 4), (None, 2, 3, 4), (2, 3)), ((None, 4, 3), (None, 3, 5), (2, 1)),
                    ((None, 4), (None, 3, 4), (1, 2)), ((None, 4), (None, 4), None)]


@pytest.mark.parametrize("xs,ys,axes", BATCH_DOT_SHAPES)
def test_batch_dot_static_shapes_match_numpy(xs, ys, axes):
    x, y = K.placeholder(shape=xs), K.placeholder(shape=ys)
    sym = K.int_shape(K.batch_dot(x, y, axes=axes))
    xv = np.ones((7,) + xs[1:], np.float32)
    yv = np.ones((7,) + ys[1:], np.float32)
    eager = K.batch_dot(xv, yv, axes=axes).shape
    assert sym[0] is None and sym[1:] == eager[1:]
    # ndim-only placeholders infer nothing but None (or 1 for the rank-2 case)
    xn, yn = K.placeholder(ndim=len(xs)), K.placeholder(ndim=len(ys))
    assert all(d in (None, 1) for d in K.int_shape(K.batch_dot(xn, yn, axes=axes)))


def test_function_evaluates_with_native_kernels_and_casts_inputs():
    x = K.placeholder(shape=(None, 3), dtype="float16")
    out = K.sum(x * 2, axis=1)
    assert K.int_shape(out) == (None,) and K.dtype(out) == "float16"
    f = K.function([x], [out, K.argmax(x)])
    s, a = f([np.array([[1, 2, 3], [6, 5, 4]], np.float64)])
    assert s.dtype == np.float16 and s.tolist() == [12, 30] and a.tolist() == [2, 0]


def test_function_updates_run_after_outputs():
    v = K.variable(np.array([1.0, 2.0]))
    x = K.placeholder(shape=(2,))
    f = K.function([x], [x + v], updates=[K.update(v, v + x)])
    out = f([np.array([10.0, 10.0])])
    np.testing.assert_array_equal(out[0], [11, 12])  # the old value
    np.testing.assert_array_equal(K.eval(v), [11, 12])
    g = K.function([x], [v * 1], updates=[(v, x)])
    np.testing.assert_array_equal(g([np.zeros(2)])[0], [11, 12])
    np.testing.assert_array_equal(K.eval(v), [0, 0])
    h = K.function([x], [x], updates=[K.update_add(v, x), K.update_sub(v, x * 0.5)])
    h([np.array([2.0, 4.0])])
    np.testing.assert_array_equal(K.eval(v), [1, 2])


def test_updates_of_plain_values_wait_inside_symbolic():
    # Eager, K.update* changes the variable at once (eager TensorFlow); inside K.symbolic, as
    # TensorFlow's graph mode, it gives an update that each run of a function applies again.
    v = K.variable(np.array([1.0, 2.0]))
    assert K.update_add(v, np.array([1.0, 1.0])) is v
    np.testing.assert_array_equal(K.eval(v), [2, 3])
    build = K.symbolic(lambda: [K.update_add(v, 1.0), K.update_sub(v, np.array([0.5, 0.5])),
                                K.moving_average_update(v, np.zeros(2), 0.5)])
    add, sub, average = build()
    np.testing.assert_array_equal(K.eval(v), [2, 3])  # nothing applied while building
    x = K.placeholder(shape=(2,))
    f = K.function([x], [v + x], updates=[add])
    for want in ([3, 4], [4, 5]):
        f([np.zeros(2)])
        np.testing.assert_array_equal(K.eval(v), want)
    np.testing.assert_array_equal(K.eval(sub), [3.5, 4.5])  # evaluating an update runs it once
    np.testing.assert_array_equal(K.eval(v), [3.5, 4.5])
    np.testing.assert_array_equal(K.eval(average), [1.75, 2.25])
    with pytest.raises(ValueError, match=r"update_add: a value of shape \(3,\) does not fit"):
        K.symbolic(lambda: K.update_add(v, np.ones(3)))()
    assert K.symbolic(lambda: K.eager(lambda: K.update_add(v, 1.0))())() is v  # K.eager applies at once
    np.testing.assert_array_equal(K.eval(v), [2.75, 3.25])
    with K.name_scope("after"):  # (an error inside left no graph building behind)
        assert K.update_add(v, -1.0) is v


def test_variables_are_read_when_evaluated():
    v = K.variable(np.array(2.0))
    x = K.placeholder(shape=())
    f = K.function([x], [x * v])
    assert f([np.array(3.0)])[0] == 6
    K.set_value(v, np.array(5.0))
    assert f([np.array(3.0)])[0] == 15


def test_eval_of_placeholder_dependent_tensor_is_a_clear_error():
    x = K.placeholder(shape=(2,), name="inp")
    with pytest.raises(ValueError, match=r"depends on placeholder\(s\) inp; use K\.function"):
        K.eval(K.square(x))
    with pytest.raises(TypeError, match="is symbolic"):
        np.asarray(x)


def test_function_input_errors():
    x = K.placeholder(shape=(None, 2))
    f = K.function([x], [K.sum(x)])
    with pytest.raises(ValueError, match=r"placeholder '.*' has shape \(None, 2\), fed a value of shape \(3,\)"):
        f([np.ones(3)])
    with pytest.raises(ValueError, match="expected 1 input value"):
        f([np.ones((1, 2)), np.ones((1, 2))])
    y = K.placeholder(shape=(2,))
    with pytest.raises(ValueError, match="not in inputs"):
        K.function([x], [K.sum(y)])


def test_static_shapes_of_common_ops():
    x = K.placeholder(shape=(None, 4, 5))
    assert K.int_shape(K.mean(x, axis=1)) == (None, 5)
    assert K.int_shape(K.permute_dimensions(x, (2, 0, 1))) == (5, None, 4)
    assert K.int_shape(K.concatenate([x, x], axis=0)) == (None, 4, 5)
    assert K.int_shape(K.expand_dims(x, 1)) == (None, 1, 4, 5)
    assert K.int_shape(K.batch_flatten(x)) == (None, 20)
    assert K.int_shape(K.dot(x, K.placeholder(shape=(5, 3)))) == (None, 4, 3)
    assert K.int_shape(K.cast(x, "float16")) == (None, 4, 5) and K.dtype(K.cast(x, "float16")) == "float16"
    assert K.dtype(K.argmax(x)) == "int64" and K.int_shape(K.argmax(x)) == (None, 4)
    assert K.int_shape(K.one_hot(K.placeholder(shape=(None,), dtype="int32"), 7)) == (None, 7)
    assert K.int_shape(x[:, 1]) == (None, 5)
    assert K.int_shape(K.placeholder()) is None and K.ndim(K.placeholder(ndim=2)) == 2


def test_single_output_and_tuple_inputs():
    x = K.placeholder(shape=(2,))
    f = K.function((x,), K.square(x))
    np.testing.assert_array_equal(f([np.array([2.0, 3.0])]), [4, 9])


def test_deep_graphs_evaluate_iteratively():
    # Each op adds a level; evaluation and the placeholder walk must not recurse per level.
    x = K.placeholder(shape=(3,))
    y = x
    for _ in range(5000):
        y = y + 1.0
    assert K.int_shape(y) == (3,)
    np.testing.assert_array_equal(K.function([x], [y])([np.zeros(3)])[0], np.full(3, 5000.0))


def test_print_tensor_prints_when_evaluated_not_when_built(capsys):
    x = K.placeholder(shape=(None, 2))
    p = K.print_tensor(x * 2, message="value:")
    assert K.int_shape(p) == (None, 2) and capsys.readouterr().out == ""
    K.function([x], [p])([np.ones((1, 2))])
    assert "value:" in capsys.readouterr().out


def test_broadcasting_ops_keep_known_size_one_dims():
    # A rule, not probing: (None, 1) + (2, 1) is (2, 1), and 1s stay 1.
    x, y = K.placeholder(shape=(None, 1)), K.placeholder(shape=(2, 1))
    assert K.int_shape(x + y) == (2, 1)
    assert K.int_shape(x * 2) == (None, 1) and K.dtype(x * 2) == "float32"
    assert K.int_shape(K.greater(x, y)) == (2, 1) and K.dtype(K.greater(x, y)) == "bool"
    with pytest.raises(ValueError, match=r"add: operands could not be broadcast together"):
        K.placeholder(shape=(None, 3)) + K.placeholder(shape=(None, 4))


def test_backends_share_the_op_registry():
    import kcore.numpy_backend as KN
    from kcore._ops import REGISTRY

    for name, op in REGISTRY.items():
        assert getattr(K, name).op is op and getattr(KN, name).op is op, name
    node = K.sum(K.placeholder(shape=(2, 3)), axis=1)
    assert node.op is REGISTRY["sum"]
    assert set(vars(K)) - {"_kernels"} >= set(REGISTRY)


def test_static_dtypes_are_the_evaluated_ones():
    p = K.placeholder(shape=(None, 3), dtype="int32")
    for node in (p / 2, K.sum(p / 2), p * 2, p - p, K.less(p, 1)):
        value = K.function([p], [node])([np.ones((2, 3), np.int32)])[0]
        assert K.dtype(node) == value.dtype.name
    b = K.placeholder(shape=(2,), dtype="bool")
    with pytest.raises(TypeError, match="boolean subtract"):
        b - b


def test_function_outputs_may_nest():
    x = K.placeholder(shape=(2,))
    f = K.function([x], [[x + 1, x * 2], x - 1])
    got = f([np.ones(2)])
    np.testing.assert_array_equal(got[0], [[2, 2], [2, 2]])
    np.testing.assert_array_equal(got[1], [0, 0])


def test_unknown_dims_that_must_equal_known_ones_are_inferred():
    # Keras compiles a loss on a (None, None) target placeholder against the model's (None, 10)
    # output: the probes must give the target's unknown last dim the output's size.
    target, output = K.placeholder((None, None)), K.placeholder((None, 10))
    loss = K.categorical_crossentropy(target, output)
    assert K.int_shape(loss) == (None,)
    f = K.function([target, output], [loss])
    t = np.eye(10, dtype=np.float32)[[1, 3]]
    o = np.full((2, 10), 0.1, np.float32)
    np.testing.assert_allclose(f([t, o])[0], -np.log([0.1, 0.1]), rtol=1e-6)


def test_expressions_of_variables_follow_their_values():
    # A metric's result is built once from its variables and read at every call (Keras 2.3).
    total, count = K.variable(0.0), K.variable(0.0)
    result = total / K.maximum(count, 1.0)
    assert isinstance(result, type(K.placeholder(()) + 1)) and K.int_shape(result) == ()
    K.set_value(total, 6.0)
    K.set_value(count, 3.0)
    assert float(result) == 2.0 and K.eval(result) == 2.0
    K.set_value(total, 9.0)
    assert np.asarray(result) == 3.0
    assert K.is_tensor(result) and K.is_variable(total) and total._keras_shape == ()


def test_updates_read_values_from_before_any_update():
    v, w = K.variable(1.0), K.variable(1.0)
    f = K.function([], [v + w], updates=[(v, v + w), (w, v * 10)])
    out, = f([])
    assert out == 2.0 and K.get_value(v) == 2.0 and K.get_value(w) == 10.0  # w from the old v


def test_updates_whose_values_are_variables_read_them_before_any_update():
    # A swap, an update to another variable's old value (directly, through stop_gradient, or a
    # view): the values the updates were given, not what an earlier update wrote.
    a, c = K.variable(np.array([1.0, 2.0])), K.variable(np.array([10.0, 20.0]))
    K.function([], [], updates=[(a, c), (c, a)])([])
    np.testing.assert_array_equal(K.get_value(a), [10, 20])
    np.testing.assert_array_equal(K.get_value(c), [1, 2])
    w = K.variable(np.array([1.0, 2.0]))
    olds = [K.variable(np.zeros(2)) for _ in range(3)]
    K.function([], [], updates=[K.update(w, w - 0.5), K.update(olds[0], w), K.update(olds[1], K.stop_gradient(w)),
                                K.update(olds[2], K.reshape(w, (2,)))])([])
    np.testing.assert_array_equal(K.get_value(w), [0.5, 1.5])
    for old in olds:
        np.testing.assert_array_equal(K.get_value(old), [1, 2])


def test_function_outputs_holding_a_variable_are_its_value_before_the_updates_and_stay():
    v = K.variable(np.array([1.0, 2.0, 3.0]))
    z = K.placeholder(shape=(3,))
    f = K.function([z], [v, K.reshape(v, (3,)), K.stop_gradient(v), v * 1, z],
                   updates=[K.update_add(v, K.ones_like(v))])
    first = f([np.zeros(3)])
    for out in first[:4]:
        np.testing.assert_array_equal(out, [1, 2, 3])
    second = f([np.zeros(3)])
    for out in second[:4]:
        np.testing.assert_array_equal(out, [2, 3, 4])
    for out in first[:4]:  # the arrays handed back earlier do not change under the caller
        np.testing.assert_array_equal(out, [1, 2, 3])
    np.testing.assert_array_equal(K.eval(v), [3, 4, 5])
    held = K.eval(v)
    K.set_value(v, np.zeros(3))
    np.testing.assert_array_equal(held, [3, 4, 5])


def test_control_dependencies_apply_updates_first_and_once():
    p = K.placeholder(())
    total = K.variable(0.0)
    update = K.update_add(total, p)
    with K.control_dependencies([update]):
        result = total * 1.0
    f = K.function([p], [result], updates=[update])
    assert f([2.0])[0] == 2.0 and K.get_value(total) == 2.0  # result after the update, applied once
    assert f([3.0])[0] == 5.0 and K.get_value(total) == 5.0


def test_the_learning_phase_is_fed_per_call():
    K.clear_session()
    x = K.placeholder((None, 4))
    y = K.in_train_phase(lambda: K.dropout(x, 0.5, seed=1), x)
    assert y._uses_learning_phase and K.is_placeholder(K.learning_phase())
    f = K.function([x, K.learning_phase()], [y])
    ones = np.ones((200, 4), np.float32)
    train, = f([ones, 1])
    test, = f([ones, 0])
    assert set(np.unique(train).tolist()) == {0.0, 2.0} and np.array_equal(test, ones)
    g = K.function([x], [y])  # not fed: the test phase
    assert np.array_equal(g([ones])[0], ones)
    K.set_learning_phase(1)
    try:
        assert K.in_train_phase(1, 2) == 1
    finally:
        K.clear_session()


def test_a_scalar_switch_evaluates_only_the_branch_it_picks(capsys):
    # As tf.cond: the unpicked branch (here a print, in predict Keras's batch statistics) never runs.
    K.clear_session()
    x = K.placeholder((None, 2))
    train = K.print_tensor(x * 2.0, message="TRAIN-BRANCH")
    test = K.print_tensor(x * 3.0, message="TEST-BRANCH")
    y = K.in_train_phase(train, test)
    f = K.function([x, K.learning_phase()], [y])
    ones = np.ones((1, 2), np.float32)
    assert f([ones, 0])[0].tolist() == [[3.0, 3.0]]
    out = capsys.readouterr().out
    assert "TEST-BRANCH" in out and "TRAIN-BRANCH" not in out
    assert f([ones, 1])[0].tolist() == [[2.0, 2.0]]
    out = capsys.readouterr().out
    assert "TRAIN-BRANCH" in out and "TEST-BRANCH" not in out
    # An elementwise condition still takes both branches.
    c = K.placeholder((2,), dtype="bool")
    g = K.function([c], [K.switch(c, K.constant([1.0, 2.0]), K.constant([5.0, 6.0]))])
    assert g([np.array([True, False])])[0].tolist() == [1.0, 6.0]
    K.clear_session()


@pytest.mark.parametrize("make", [lambda s: K.random_normal(s, stddev=2.0), lambda s: K.random_uniform(s, -1, 1),
                                  lambda s: K.truncated_normal(s), lambda s: K.random_binomial(s, 0.5)])
def test_random_ops_on_symbolic_shapes_draw_at_each_run(make):
    x = K.placeholder((None, 5))
    r = make(K.shape(x))
    assert K.int_shape(r) == (None, 5) and K.int_shape(make((K.shape(x)[0], 1, 3))) == (None, 1, 3)
    f = K.function([x], [r])
    a, b = f([np.zeros((64, 5))])[0], f([np.zeros((64, 5))])[0]
    assert a.shape == (64, 5) and a.dtype == np.float32 and not np.array_equal(a, b)
    assert K.gradients(K.sum(x * r), [x])[0] is not None
    assert isinstance(make((2, 3)), np.ndarray)  # eager with a known shape


def test_random_op_nodes_know_their_dtype_and_check_their_numbers_when_built():
    x = K.placeholder((None, 3))
    assert K.random_normal(K.shape(x), 0.0, 1.0, "float64").dtype == "float64"
    assert K.random_binomial(K.shape(x), 0.5, "int32").dtype == "int32"
    with pytest.raises(TypeError, match="random_normal: mean must be a real number, got Placeholder"):
        K.random_normal(K.shape(x), mean=x)


def test_reshape_infers_the_minus_one_from_static_sizes():
    y = K.placeholder((None, 3))
    r = K.reshape(y, (-1, 7, 3))  # 7 x 3 need not divide stand-ins for the unknown dim
    assert K.int_shape(r) == (None, 7, 3)
    assert K.function([y], [r])([np.zeros((14, 3))])[0].shape == (2, 7, 3)
    x = K.placeholder((None, 7, 5))
    assert K.int_shape(K.reshape(x, (K.shape(x)[0], 35))) == (None, 35)
    assert K.int_shape(K.reshape(x, (-1, 5))) == (None, 5)
    assert K.int_shape(K.reshape(K.placeholder((2, 6)), (3, -1))) == (3, 4)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape an array of shape \(2, 6\) \(12 elements\)"):
        K.reshape(K.placeholder((2, 6)), (5, -1))


def test_switch_takes_callable_branches():
    # TensorFlow's backend calls them; a known scalar condition calls only the branch it picks
    # (Keras 2.3.1's hinge losses switch between two lambdas on a symbolic condition).
    x = K.placeholder((None, 3))
    y = K.switch(K.all(K.equal(x, 0)), lambda: x + 2, lambda: x - 1)
    f = K.function([x], [y])
    np.testing.assert_array_equal(f([np.zeros((2, 3))])[0], np.full((2, 3), 2))
    np.testing.assert_array_equal(f([np.ones((1, 3))])[0], np.zeros((1, 3)))
    assert K.switch(False, lambda: 1 / 0, x) is x
    np.testing.assert_array_equal(K.switch(np.array([True, False]), lambda: np.ones(2), np.zeros(2)), [1, 0])
    with pytest.raises(TypeError, match=r"switch: .* for the branch's value, got str"):
        K.switch(True, lambda: "a", 1)


def test_a_value_the_unpicked_branch_would_read_is_dropped_once_the_switch_picks():
    # Keras's BatchNormalization reads a convolution's output in both branches of in_train_phase;
    # in predict that output must go (back to the block cache) once the switch has picked, not
    # live to the end of the evaluation because the training branch never read it.
    import weakref

    from kcore import _graph

    K.clear_session()
    x = K.placeholder((None, 4))
    shared = x * 2.0
    y = K.in_train_phase(K.sum(shared * 5.0) + shared, shared - 1.0)
    out = K.exp(y) * 3.0
    refs, seen = {}, {}

    def record(node, v):
        if node is out:
            seen["shared alive at the end"] = refs[id(shared)]() is not None
        if isinstance(v, np.ndarray):
            refs[id(node)] = weakref.ref(v)

    ones = np.ones((2, 4), np.float32)
    got = _graph.evaluate([out], {x: ones, K.learning_phase(): 0}, record=record)[0]
    np.testing.assert_allclose(got, 3 * np.exp(ones), rtol=1e-6)
    assert seen == {"shared alive at the end": False}
    # The picked branch still gets what it reads, whichever it is.
    got = _graph.evaluate([out], {x: ones, K.learning_phase(): 1}, record=record)[0]
    np.testing.assert_allclose(got, 3 * np.exp(np.full((2, 4), 82.0)), rtol=1e-6)
    K.clear_session()


def test_later_calls_replay_the_first_calls_schedule_with_fresh_values(capsys, monkeypatch):
    # K.function records its first evaluation's schedule per learning phase and replays it: each
    # call still reads the variables and feeds of its own, runs only the picked branch, and drops
    # what the unpicked branch would have read; a switch on a computed condition is decided anew
    # at every call.
    import weakref

    from kcore._ops import REGISTRY

    K.clear_session()
    alive = []
    original_exp, original_multiply = REGISTRY["exp"].on, REGISTRY["_multiply"].on

    def exp_on(kern):  # (Op.on gives the call that Op.eager and recorded schedules make)
        call = original_exp(kern)

        def exp_eager(*args, **kwargs):  # is `shared` (x * 2) still held when exp runs?
            alive.append(held[-1]() is not None)
            return call(*args, **kwargs)

        return exp_eager

    held = []

    def multiply_on(kern):
        call = original_multiply(kern)

        def multiply_eager(*args, **kwargs):
            out = call(*args, **kwargs)
            if isinstance(args[1], float) and args[1] == 2.0:
                held.append(weakref.ref(out))
            return out

        return multiply_eager

    x = K.placeholder((None, 4))
    v = K.variable(1.0)
    shared = x * 2.0
    train = K.print_tensor(K.sum(shared * 5.0) + shared, message="TRAIN-BRANCH")
    y = K.in_train_phase(train, shared - v)
    out = K.exp(y)  # (alone: an elementwise chain after it would run in one native pass, not through exp's call)
    f = K.function([x, K.learning_phase()], [out])
    monkeypatch.setattr(REGISTRY["exp"], "on", exp_on)  # (after the graph's shape probes)
    monkeypatch.setattr(REGISTRY["_multiply"], "on", multiply_on)
    ones = np.ones((2, 4), np.float32)
    for phase, value in [(0, 1.0), (0, 0.5), (1, 0.5), (1, 0.5), (0, -1.0)]:
        K.set_value(v, value)
        got, = f([ones, phase])
        want = np.full((2, 4), 82.0) if phase else np.full((2, 4), 2.0 - value)
        np.testing.assert_allclose(got, np.exp(want), rtol=1e-6)
        assert ("TRAIN-BRANCH" in capsys.readouterr().out) == bool(phase)
        if not phase:
            assert alive[-1] is False
    assert len(alive) == 5
    # A scalar condition computed from the inputs picks its branch at every call.
    cond = K.greater(K.sum(x), 0.0)
    z = K.switch(cond, K.print_tensor(x * 3.0, message="POSITIVE"), K.print_tensor(x * -1.0, message="NEGATIVE"))
    g = K.function([x], [z])
    for sign in (1, -1, -1, 1, -1):
        got, = g([sign * ones])
        np.testing.assert_array_equal(got, ones * (3.0 if sign > 0 else 1.0))
        printed = capsys.readouterr().out
        assert ("POSITIVE" in printed, "NEGATIVE" in printed) == (sign > 0, sign < 0)
    K.clear_session()


def test_placeholders_variables_and_constants_carry_keras_attributes():
    p = K.placeholder((None, 3), name="inp")
    v = K.variable(np.zeros((2, 2)))
    c = K.constant([1.0, 2.0])
    assert p._keras_shape == (None, 3) and v._keras_shape == (2, 2) and c._keras_shape == (2,)
    assert not (p._uses_learning_phase or v._uses_learning_phase or c._uses_learning_phase)


def test_name_scopes_prefix_names():
    with K.name_scope("dense_1") as scope:
        v = K.variable(0.0, name="kernel")
        with K.name_scope("inner"):
            w = K.variable(0.0, name="bias")
    assert scope == "dense_1/" and v.name == "dense_1/kernel" and w.name == "dense_1/inner/bias"
    assert K.variable(0.0, name="free").name == "free"
    with K.name_scope("dense"), K.name_scope("conv1/conv") as inner:  # (Keras's DenseNet names a layer so)
        assert inner == "dense/conv1/conv/" and K.variable(1.0, name="kernel").name == "dense/conv1/conv/kernel"
        with K.name_scope("top/") as whole:  # a trailing '/': the whole prefix, as TensorFlow
            assert whole == "top/" and K.placeholder((2,), name="p").name == "top/p"
        assert K.placeholder((2,), name="q").name == "dense/conv1/conv/q"
    with pytest.raises(ValueError, match="name_scope"), K.name_scope(""):
        pass


def test_symbolic_tensors_refuse_truth_and_numbers():
    x = K.placeholder((2,))
    with pytest.raises(TypeError, match="depends on a placeholder"):
        bool(K.sum(x) > 0)
    with pytest.raises(TypeError, match="depends on placeholder"):
        np.asarray(x + 1)


@pytest.fixture
def conv2d_calls(monkeypatch):
    """A list that grows by one at each run of K.conv2d's eager function."""
    from kcore._ops import REGISTRY

    calls = []
    op = REGISTRY["conv2d"]
    impl = op.impl
    monkeypatch.setattr(op, "native", None)
    monkeypatch.setattr(op, "impl", lambda *a, **k: calls.append(1) or impl(*a, **k))
    return calls


def test_shape_queries_while_building_evaluate_each_layer_once_per_probe(conv2d_calls):
    # Keras layers ask for their input's shape (BatchNormalization: K.shape(x)[axis]; Reshape:
    # K.shape(x)[0]) as the model is built: each query runs the graph under a probe size. What
    # earlier queries computed is kept, so a deep model costs each layer once per probe, not once
    # per later layer (ResNet50 once took 90 s to build).
    calls = conv2d_calls
    x = K.placeholder((None, 6, 6, 4))
    h, layers = x, 12
    for _ in range(layers):
        h = K.conv2d(h, np.full((3, 3, 4, 4), 0.01, np.float32), padding="same")
        h = K.reshape(h, (K.shape(h)[0], 6, 6, 4))  # a shape query after every convolution
    assert h.shape == (None, 6, 6, 4)
    assert len(calls) <= 2 * layers
    f = K.function([x], [h])
    got = f([np.ones((3, 6, 6, 4), np.float32)])[0]
    assert got.shape == (3, 6, 6, 4)


def test_shape_queries_while_building_run_no_convolution(conv2d_calls):
    # BatchNormalization's training branch asks K.shape(x)[axis] of a convolution's output; the
    # probe takes the output's shape from the convolution's shape rule on its input's shape under
    # the probe, and reductions and activations have rules of their own: building runs no
    # convolution (NASNetLarge took 36 s to build when every query ran the layers before it).
    calls = conv2d_calls
    x = K.placeholder((None, 9, 9, 4))
    h = x
    for strides in (1, 2, 1, 2):
        h = K.relu(K.conv2d(h, np.full((3, 3, 4, 4), 0.01, np.float32), strides=strides, padding="same"))
        mean, var = K.mean(h, axis=[0, 1, 2]), K.var(h, axis=[0, 1, 2])
        size = K.prod(K.cast(K.stack([K.shape(h)[i] for i in (0, 1, 2)]), "float32"))
        h = (h - mean) / K.sqrt(var * size / (size - 1.0) + 1e-3)
        flat = K.reshape(h, (K.shape(h)[0], K.shape(h)[1] * K.shape(h)[2] * 4))
    assert calls == []
    assert K.int_shape(h) == (None, 3, 3, 4) and K.int_shape(flat) == (None, 36)
    assert K.int_shape(size) == () and K.int_shape(mean) == (4,)
    got = K.function([x], [flat])([np.random.default_rng(0).random((2, 9, 9, 4), np.float32)])[0]
    assert got.shape == (2, 36) and np.isfinite(got).all()


def test_shape_rules_of_reductions_match_their_results():
    x = K.placeholder((None, 3, 4, 5))
    value = np.random.default_rng(1).random((2, 3, 4, 5)).astype(np.float32)
    for fn in (K.sum, K.mean, K.max, K.var, K.any):
        for axis in (None, 0, -1, [1, 3], (0, -2), []):
            for keepdims in (False, True):
                node = fn(x, axis=axis, keepdims=keepdims)
                got = K.function([x], [node])([value])[0]
                assert len(K.int_shape(node)) == got.ndim and K.dtype(node) == got.dtype.name, (fn, axis, keepdims)
                for static, actual in zip(K.int_shape(node), got.shape, strict=True):
                    assert static is None or static == actual, (fn, axis, keepdims)
                batch_kept = axis is not None and 0 not in [a % 4 for a in np.atleast_1d(np.asarray(axis, int))]
                assert K.int_shape(node).count(None) == int(batch_kept), (fn, axis, keepdims)
    assert K.int_shape(K.sum(x, axis=[0, 1])) == (4, 5)
    assert K.int_shape(K.mean(x, axis=1, keepdims=True)) == (None, 1, 4, 5)
    assert K.int_shape(K.argmax(x)) == (None, 3, 4) and K.int_shape(K.argmin(x, axis=0)) == (3, 4, 5)
    i = K.placeholder((None, 3), dtype="int32")
    assert K.dtype(K.mean(i)) == "int32" and K.dtype(K.var(i)) == "float32" and K.dtype(K.max(i, 1)) == "int32"
    assert K.dtype(K.sum(K.placeholder((2, 3), dtype="bool"))) == "float32"
    assert K.dtype(K.relu(i, alpha=0.1)) == "float32" and K.dtype(K.relu(i)) == "int32"
    with pytest.raises(ValueError, match="sum"):
        K.sum(x, axis=4)
    with pytest.raises(ValueError, match="argmax"):
        K.argmax(x, axis=-5)
    with pytest.raises(ValueError, match="softmax"):
        K.softmax(K.placeholder(()))


def test_shape_queries_read_values_where_shapes_depend_on_them():
    # The shape of K.shape(x) under a probe comes from shapes alone only where no value decides
    # it: a scalar switch's condition, a boolean mask, the reps of a tile held in a constant or a
    # variable are read.
    x = K.placeholder((None, 6))
    s = K.switch(K.cast(K.learning_phase(), "float32") + 1.0, K.exp(x), K.exp(x[:, :3]))
    r = K.reshape(s, (K.shape(s)[0], K.shape(s)[1]))
    assert K.int_shape(r) == (None, 6)
    value = np.arange(30, dtype=np.float32).reshape(5, 6) - 10
    assert K.function([x], [r])([value])[0].shape == (5, 6)
    m = x[K.greater_equal(x, 0.0)]
    col = K.reshape(m, (K.shape(m)[0], 1))
    assert K.int_shape(m) == (None,) and K.int_shape(col) == (None, 1)
    assert K.function([x], [col])([value])[0].shape == (20, 1)
    for reps in (K.constant([2, 3], dtype="int32"), K.variable(np.array([2, 3]), dtype="int32")):
        t = K.tile(x, reps)  # (a variable: its value when the graph is built)
        assert K.int_shape(t) == (None, 18)
        flat = K.reshape(t, (K.shape(t)[0], -1))
        assert K.function([x], [flat])([value])[0].shape == (10, 18)
    # Indices held in constants, past the probe's sizes for the unknown dim: they build.
    big = np.arange(400, dtype=np.float32).reshape(100, 4)
    y = K.placeholder((None, 4))
    for node, want in ((K.gather(y, K.constant([20, 50], dtype="int32")), (2, 4)),
                       (y[K.variable(np.array([20, 50]), dtype="int32")], (2, 4)),
                       (K.slice(y, K.constant([20, 0], "int32"), K.constant([3, 4], "int32")), (3, 4))):
        np.testing.assert_array_equal(K.function([y], [node])([big])[0].shape, want)
        assert K.int_shape(node) in (want, (None,) * len(want))  # (never a wrong known dim)
    a, b = K.placeholder((3,)), K.placeholder((3,))
    assert K.int_shape(K.gather([a, b], 1)) == (3,)  # a list of tensors, stacked


def test_rules_keep_the_dtypes_and_errors_of_the_ops():
    for dtype in ("float16", "float64"):
        x = K.placeholder((None, 4), dtype=dtype)
        for node in (K.std(x, axis=0), K.var(x), K.mean(x, 1), K.relu(x), K.softmax(x), K.exp(x)):
            assert K.dtype(node) == dtype
        K.dot(K.expand_dims(K.std(x, axis=0), 0), K.placeholder((4, 2), dtype=dtype))  # builds
    with pytest.raises(ValueError, match="argmin"):
        K.argmin(K.placeholder((0, 3)), axis=0)
    for operand in (np.ones(3, np.float32), K.placeholder((None, 3))):  # eager, and when built
        with pytest.raises(ValueError, match="relu: max_value"):
            K.relu(operand, max_value=10**400)
    # A gradient has its variable's dtype where g's differs (a float16 variable times float32).
    for pool in (True, False):
        v = K.variable(np.ones((1, 4, 4, 2)), dtype="float16")
        h = K.pool2d(v, (2, 2)) if pool else K.conv2d(v, K.variable(np.ones((2, 2, 2, 1)), dtype="float16"))
        (g,) = K.gradients(K.sum(K.cast(h, "float32") * K.constant(2.0)), [v])
        assert K.dtype(g) == "float16" and K.function([], [g])([])[0].dtype == np.float16
    x = K.placeholder((None, 3))
    f = K.function([x], [K.relu(x, max_value=10**30)])  # fused with the clip: a bound past float32
    np.testing.assert_array_equal(f([np.array([[1e31, -1, 2]], np.float32)])[0], np.float32([[1e30, 0, 2]]))


@pytest.mark.parametrize("seed", [None, 7])
def test_seeded_random_nodes_draw_anew_at_every_run(seed):
    # As TensorFlow's graph: a random op's seed fixes the sequence of its runs, not one draw; so a
    # Dropout(seed=...) layer trains with a new mask at every step.
    x = K.placeholder(shape=(None, 64))
    nodes = [K.dropout(x, 0.5, seed=seed), K.random_uniform(K.shape(x), seed=seed),
             K.random_normal(K.shape(x), seed=seed), K.truncated_normal(K.shape(x), seed=seed),
             K.random_binomial(K.shape(x), 0.5, seed=seed)]
    f = K.function([x], nodes)
    ones = np.ones((3, 64), np.float32)
    first, second = f([ones]), f([ones])
    for a, b in zip(first, second, strict=True):
        assert a.shape == (3, 64) and not np.array_equal(a, b)
    if seed is not None:  # a new graph with the same seed repeats the runs' sequence
        again = K.function([x], [K.dropout(x, 0.5, seed=seed), K.random_uniform(K.shape(x), seed=seed)])
        for run in (first, second):
            got = again([ones])
            assert np.array_equal(got[0], run[0]) and np.array_equal(got[1], run[1])
    assert np.array_equal(K.random_uniform((4,), seed=3), K.random_uniform((4,), seed=3))  # eager: one draw


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_zero_d_values_meeting_python_numbers_keep_their_dtype(dtype):
    # A graph's 0-d values are NumPy scalars; a Python number meeting one takes its dtype, as it
    # does a tensor's (K.mean(x) + 1 evaluated to float64 for float32 x).
    x = K.placeholder((None, 3), dtype=dtype)
    value = np.ones((2, 3), dtype)
    for node in (K.mean(x) + 1, K.sum(x) * 2, 1 - K.max(x), K.mean(x) + 0.5, K.mean(x) / 3, K.maximum(K.mean(x), 1)):
        assert K.dtype(node) == dtype and K.function([x], [node])([value])[0].dtype == dtype
    v = K.variable(np.ones((4, 5)), dtype=dtype)
    for fn in (K.var, K.std, K.mean, K.sum):
        (g,) = K.gradients(K.sum(fn(v, axis=0) * 1.7), [v])
        assert K.dtype(g) == dtype and K.function([], [g])([])[0].dtype == dtype


def test_dot_of_unknown_contracted_size_builds_and_checks_when_fed():
    x, y = K.placeholder((None, 5)), K.placeholder((None, 2))
    d = K.dot(x, y)  # y's rows are unknown until fed: no error at build
    assert K.int_shape(d) == (None, 2)
    np.testing.assert_array_equal(K.function([x, y], [d])([np.ones((3, 5)), np.ones((5, 2))])[0], np.full((3, 2), 5))
    with pytest.raises(ValueError, match="dot: cannot contract"):
        K.function([x, y], [d])([np.ones((3, 5)), np.ones((4, 2))])
    with pytest.raises(ValueError, match="dot: cannot contract"):
        K.dot(x, K.placeholder((4, 2)))
    assert K.int_shape(K.dot(K.placeholder((3, None, 5)), K.placeholder((6, 5, 7)))) == (3, None, 6, 7)


def test_a_variables_constraint_is_held_not_applied_on_assignment():
    # Keras's optimizers apply p.constraint to each new value once a step; TensorFlow's variable
    # only holds it, so set_weights, load_model and the updates themselves write values as given.
    def halve(t):
        return t * 0.5

    v = K.variable(np.array([2.0, 4.0]), constraint=halve)
    assert v.constraint is halve
    np.testing.assert_array_equal(K.get_value(v), [2, 4])
    K.set_value(v, np.array([6.0, 8.0]))
    np.testing.assert_array_equal(K.get_value(v), [6, 8])
    K.batch_set_value([(v, np.array([1.0, 3.0]))])
    np.testing.assert_array_equal(K.get_value(v), [1, 3])
    K.function([], [], updates=[K.update_add(v, K.constant(np.ones(2)))])([])
    np.testing.assert_array_equal(K.get_value(v), [2, 4])


def test_an_elementwise_switch_is_replayed_from_the_recorded_schedule():
    # A condition of known rank >= 1 (an RNN's mask) selects elementwise: both branches run, so
    # the evaluation records its schedule and later calls replay it (a masked LSTM walked the
    # whole graph at every step).
    x, m = K.placeholder((2, 3)), K.placeholder((2, 3))
    f = K.function([x, m], [K.switch(m, x * 2, x - 1)])
    xv = np.arange(6, dtype=np.float32).reshape(2, 3)
    for mask in (np.eye(2, 3), np.ones((2, 3)), np.zeros((2, 3))):
        (got,) = f([xv, mask.astype(np.float32)])
        np.testing.assert_array_equal(got, np.where(mask != 0, xv * 2, xv - 1))
    assert any(type(k) is tuple and k[0] == "schedule" for k in f._fusion)
    c = K.placeholder(())  # a scalar condition still runs only the branch it picks
    g = K.function([x, c], [K.switch(c, x * 2, K.log(x - 100))])
    with np.errstate(invalid="raise"):
        np.testing.assert_array_equal(g([xv, np.float32(1)])[0], xv * 2)
