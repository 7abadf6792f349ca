"""Regenerate the small Keras files the Keras reader is tested on (run in a venv with
tensorflow-cpu and tf-keras; cnncost itself never needs them):

    python tests/keras_files/make_keras_files.py            # Keras 3 files
    python tests/keras_files/make_keras_files.py --legacy   # tf.keras 2 files (tf-keras)

Each model `M` gives `M.keras` (or `M.h5` / `M.json`) and `M.expect.npz`: a fixed input,
Keras' own `predict` output(s) on it, and Keras' parameter split (count_params, trainable,
non-trainable as model.summary() prints them).

    python tests/keras_files/make_keras_files.py --saved-late            # Keras 3
    python tests/keras_files/make_keras_files.py --saved-late --legacy   # tf.keras 2

saves the SAVED_LATE models as a user's notebook does: after building other models in the
same process, with Keras' own layer names (conv2d_17, sequential_5), and each both ways,
`.keras` and legacy `.h5`: `M_k3.keras`, `M_k3.h5` (or `M_k2.*`) and one `M_k3.expect.npz`
(`--only shared,nested` saves only the models named). Their layer names then differ from the
keys a `.keras` files weights under (conv2d, conv2d_1, ...), Keras 3 writes a Sequential's weights as 'sequential_5/conv2d_17/kernel' in a `.h5`,
and a `.h5` drops the module that tells `x + 3.0` (an operation) from the layer Add."""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
LEGACY = "--legacy" in sys.argv
if LEGACY:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tf_keras as keras
    from tf_keras import layers
else:
    import keras
    from keras import layers
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


def randomize(model):
    """Weights that are not the initializers' (BN statistics away from 0 and 1 included),
    scaled by fan-in so that outputs stay in range, so that a reader which drops or swaps a
    weight cannot still match. Normalization keeps what adapt() gave it (Keras 3 caches
    its mean and variance at adapt time; set_weights would not reach predict)."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            randomize(layer)
            continue
        if type(layer).__name__ == "Normalization" or not layer.weights:
            continue
        new = []
        for v, w in zip(layer.weights, layer.get_weights()):
            if "variance" in v.name:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            else:
                fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 9
                new.append((rng.standard_normal(w.shape) / np.sqrt(fan_in)).astype(w.dtype))
        layer.set_weights(new)


def zoo():
    """Every layer the reader maps, on a small map."""
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inp)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_relu")(x)
    x = layers.BatchNormalization(epsilon=1e-3, name="bn")(x)
    g = layers.Conv2D(8, 3, padding="same", groups=2, dilation_rate=2, use_bias=False, name="grouped")(x)
    d = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=1, name="dw")(x)
    x = layers.Add(name="add")([g, d])
    x = layers.ReLU(max_value=6.0, name="relu6")(x)
    s = layers.SeparableConv2D(12, 3, strides=2, padding="same", name="sep")(x)      # 8x8x12
    s = layers.LeakyReLU(name="leaky")(s)
    p = layers.MaxPooling2D(2, name="maxpool")(x)                                      # 8x8x8
    p = layers.Conv2D(12, 1, name="proj")(p)
    x = layers.Subtract(name="sub")([s, p])
    x = layers.PReLU(shared_axes=[1, 2], name="prelu")(x)
    a = layers.AveragePooling2D(3, strides=1, padding="same", name="avgpool")(x)
    b = layers.ELU(alpha=0.5, name="elu")(x)
    x = layers.Multiply(name="mul")([a, b])
    x = layers.Maximum(name="max")([x, a])
    x = layers.Minimum(name="min")([x, b])
    x = layers.Average(name="avg")([x, a, b])
    x = layers.ZeroPadding2D(((1, 0), (0, 1)), name="pad")(x)                        # 9x9x12
    x = layers.Cropping2D(((1, 0), (0, 1)), name="crop")(x)                            # 8x8x12
    u = layers.UpSampling2D(2, name="up_nearest")(x)                                   # 16x16x12
    v = layers.UpSampling2D(2, interpolation="bilinear", name="up_bilinear")(x)
    x = layers.Concatenate(name="cat")([u, v])                                         # 16x16x24
    x = layers.Conv2DTranspose(6, 3, strides=2, padding="same", name="deconv")(x)     # 32x32x6
    x = layers.Resizing(12, 12, interpolation="bilinear", name="resize")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="valid", activation="swish", name="conv_swish")(x)  # 5x5x8
    x = layers.LayerNormalization(epsilon=1e-5, name="ln")(x)
    x = layers.Activation("tanh", name="tanh")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    x = layers.SpatialDropout2D(0.2, name="sdrop")(x)
    x = layers.GaussianNoise(0.1, name="noise")(x)
    x = layers.Dense(10, name="dense_on_map")(x)                                       # 5x5x10
    x = layers.Reshape((25, 10), name="reshape")(x)
    x = layers.Permute((2, 1), name="permute")(x)                                      # 10x25
    x = layers.Softmax(axis=-1, name="softmax")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(6, activation="sigmoid", name="head")(x)
    side = layers.GlobalMaxPooling2D(keepdims=True, name="gmp")(inp)
    side = layers.GlobalAveragePooling2D(name="gap")(side)
    side = layers.Dense(6, name="side")(side)
    out = layers.Add(name="out")([x, side])
    return keras.Model(inp, [out, layers.Activation("relu", name="second")(side)], name="zoo")


def happy():
    """The course's Sequential "happy model" (64x64x3 faces, one sigmoid)."""
    return keras.Sequential([
        keras.Input((64, 64, 3)),
        layers.ZeroPadding2D(3),
        layers.Conv2D(32, 7, strides=1),
        layers.BatchNormalization(axis=3),
        layers.ReLU(),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(1, activation="sigmoid"),
    ], name="happy_model")


def transfer():
    """The transfer-learning notebook in small: augmentation, a frozen nested base, a new head."""
    base_in = keras.Input((24, 24, 3))
    y = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="base_conv")(base_in)
    y = layers.BatchNormalization(name="base_bn")(y)
    y = layers.ReLU(6.0, name="base_relu")(y)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="base_dw")(y)
    y = layers.BatchNormalization(name="base_dw_bn")(y)
    base = keras.Model(base_in, layers.Conv2D(16, 1, name="base_pw")(y), name="base")
    base.trainable = False
    augment = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.2)],
                               name="augmentation")
    inp = keras.Input((24, 24, 3), name="picture")
    x = augment(inp)
    x = layers.Rescaling(1 / 127.5, offset=-1, name="preprocess")(x)
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    out = layers.Dense(1, name="prediction")(x)
    return keras.Model(inp, out, name="transfer")


def normalization():
    """Normalization adapted to data (mean, variance and Keras' sample count)."""
    inp = keras.Input((8, 8, 3), name="x")
    norm = layers.Normalization(name="norm")
    norm.adapt(rng.standard_normal((20, 8, 8, 3)).astype("float32") * 2 + 1)
    x = norm(inp)
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = layers.Identity(name="same")(x) if hasattr(layers, "Identity") else x
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="fc")(x), name="normalized")


def arithmetic():
    """What preprocess_input and hand-written code emit: tensor arithmetic (tf.keras 2's
    TFOpLambda, Keras 3's operations), hard-swish as MobileNetV3 writes it."""
    inp = keras.Input((8, 8, 3), name="x")
    x = inp / 127.5 - 1.0
    x = layers.Conv2D(4, 3, padding="same", name="conv")(x)
    x = x * layers.ReLU(6.0, name="relu6")(x + 3.0) * (1.0 / 6.0)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, layers.Dense(2, name="fc")(x), name="arithmetic")


def more():
    """The rest: activations by name, ReLU's arguments, transposed convs of every padding,
    resizing by nearest, LayerNorm over several axes, three-input Minimum,
    constants on the left of an operation."""
    inp = keras.Input((12, 12, 4), name="x")
    x = inp
    names = ["gelu", "elu", "softplus", "hard_sigmoid", "exponential", "selu" if False else "swish"]
    if not LEGACY:
        names += ["hard_silu", "leaky_relu", "mish"]
    branches = [layers.Activation(n, name=f"act_{n}")(layers.Conv2D(4, 1, name=f"pre_{n}")(x)) for n in names]
    x = layers.Add(name="acts")(branches)
    a = layers.ReLU(max_value=4.0, negative_slope=0.1, name="relu_capped")(x)
    b = layers.ReLU(max_value=2.5, name="relu_top")(x)
    c = layers.PReLU(shared_axes=[1, 2, 3], name="prelu_one")(x)
    x = layers.Minimum(name="min3")([a, b, c])
    t1 = layers.Conv2DTranspose(3, 3, strides=2, padding="valid", name="deconv_valid")(x)         # 25x25
    t2 = layers.Conv2DTranspose(3, 4, strides=3, padding="same", output_padding=2, name="deconv_op")(x)  # 35x35
    t2 = layers.Resizing(25, 25, interpolation="bilinear", name="resize_op")(t2)
    t3 = layers.Conv2DTranspose(3, 2, strides=3, padding="valid", use_bias=False, name="deconv_gap")(x)  # 36x36
    t3 = layers.Resizing(25, 25, interpolation="bilinear", name="resize_down")(t3)
    x = layers.Concatenate(name="cat")([t1, t2, t3])
    x = layers.Resizing(10, 10, interpolation="nearest", name="resize_nearest")(x)
    x = layers.UpSampling2D((2, 1), interpolation="bilinear", name="up_rect")(x)                 # 20x10
    x = layers.LayerNormalization(axis=[1, 2, 3], name="ln_all")(x)
    if not LEGACY:
        x = 1.0 - x
        x = 2.0 / (layers.Activation("sigmoid", name="sig")(x) + 1.0)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    return keras.Model(inp, layers.Flatten(name="flat")(x), name="more")


MODELS = {"zoo": zoo, "more": more, "happy": happy, "transfer": transfer, "normalization": normalization,
          "arithmetic": arithmetic}


# ---- saved late: Keras' own names, after other models -------------------------------------
def others():
    """What a notebook built before the model it saves: each layer class counted up."""
    for _ in range(3):
        inp = keras.Input((8, 8, 3))
        x = layers.Conv2D(4, 3)(inp)
        x = layers.BatchNormalization()(layers.DepthwiseConv2D(3)(x))
        x = layers.SeparableConv2D(4, 1)(layers.ReLU()(x))
        x = layers.Add()([x, layers.Conv2D(4, 1)(x)])
        keras.Model(inp, layers.Dense(2)(layers.Flatten()(x)))
        keras.Sequential([layers.Conv2D(2, 1), layers.Dense(2)]).build((None, 4, 4, 1))


def course():
    """The course's Sequential happy model, every layer named by Keras."""
    return keras.Sequential([
        keras.Input((24, 24, 3)), layers.ZeroPadding2D(3), layers.Conv2D(8, 7), layers.BatchNormalization(axis=3),
        layers.ReLU(), layers.MaxPooling2D(), layers.Conv2D(8, 3), layers.Flatten(),
        layers.Dense(1, activation="sigmoid")])


def branches():
    """Inception-style branches: convolutions of one class and several shapes, created in
    another order than the model lists them, with the layers whose weights the two savers
    name differently (DepthwiseConv2D's kernel, PReLU's alpha) and an adapted Normalization."""
    inp = keras.Input((12, 12, 3))
    norm = layers.Normalization()
    norm.adapt(rng.standard_normal((16, 12, 12, 3)).astype("float32") * 3 + 2)
    x = norm(inp)
    late = layers.Conv2D(6, 1)                        # created first, called last
    a = layers.Conv2D(4, 5, padding="same")(x)
    b = layers.Conv2D(6, 1)(x)
    b = layers.Conv2D(4, 3, padding="same")(b)
    c = layers.DepthwiseConv2D(3, padding="same")(x)
    c = layers.BatchNormalization()(c)
    c = layers.SeparableConv2D(4, 3, padding="same")(c)
    x = layers.Concatenate()([a, b, c])
    x = layers.PReLU(shared_axes=[1, 2])(x)
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = layers.LayerNormalization()(x)
    x = late(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(3)(x))


def nested():
    """A model in a model: a Sequential built on its first call (Keras 3 scopes its weights
    by its name), a frozen Functional, and layers of the same classes outside them. In the
    Functional a BatchNorm named 'bn' and one named 'conv/bn' (tf.keras 2, as DenseNet names
    them; Keras 3 allows no slash: 'conv_bn'), whose weights' paths both end in 'bn/gamma'."""
    seq = keras.Sequential([layers.Conv2D(6, 3, padding="same"), layers.BatchNormalization(), layers.ReLU()])
    inner_in = keras.Input((10, 10, 6))
    y = layers.Conv2D(6, 3, padding="same")(inner_in)
    y = layers.BatchNormalization(name="conv/bn" if LEGACY else "conv_bn")(y)
    y = layers.BatchNormalization(name="bn")(y)
    inner = keras.Model(inner_in, layers.Add()([inner_in, y]))
    inner.trainable = False
    inp = keras.Input((10, 10, 3))
    x = layers.Conv2D(6, 1)(inp)
    x = seq(x)
    x = inner(x)
    x = layers.Conv2D(4, 3)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(2)(x))


def squeeze():
    """MobileNetV3's hard-swish and squeeze-excite, written with operators as
    keras.applications writes them (Keras 3 operations, tf.keras 2 TFOpLambda) beside the
    layers Add and Multiply."""
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(8, 3, padding="same")(inp)
    x = layers.Multiply()([x, layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)])
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Conv2D(8, 1)(s)
    s = layers.ReLU(6.0)(s + 3.0) * (1.0 / 6.0)
    x = layers.Multiply()([x, s])
    x = layers.Add()([x, layers.Conv2D(8, 1)(inp)])
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(2)(x))


def shared():
    """Layers applied more than once, as a Siamese network has them: one Conv2D, one
    BatchNormalization and one SeparableConv2D applied to two inputs, a nested Functional
    (the tower) and a Sequential (the head) each called on both branches, a weightless
    pooling layer shared, and one Dense applied twice in a row on each branch (four calls)."""
    tower_in = keras.Input((6, 6, 4))
    t = layers.Conv2D(4, 3, padding="same")(tower_in)
    t = layers.BatchNormalization()(t)
    tower = keras.Model(tower_in, layers.ReLU()(t))
    head = keras.Sequential([layers.Dense(6, activation="relu"), layers.Dense(3)])
    stem, bn = layers.Conv2D(4, 3, padding="same"), layers.BatchNormalization()
    sep, pool = layers.SeparableConv2D(4, 3, padding="same"), layers.GlobalAveragePooling2D()
    square = layers.Dense(4, activation="tanh")
    left, right = keras.Input((6, 6, 3), name="left"), keras.Input((6, 6, 3), name="right")
    outs = []
    for x in (left, right):
        x = tower(sep(bn(stem(x))))
        outs.append(head(square(square(pool(x)))))
    return keras.Model([left, right], layers.Subtract()(outs))


SAVED_LATE = {"course": course, "branches": branches, "nested": nested, "squeeze": squeeze, "shared": shared}


def expect(model, path):
    """Keras' outputs on a fixed input (`input`; `input_NAME` each for several inputs)."""
    xs = []
    for tensor in model.inputs:
        shape = (2,) + tuple(tensor.shape[1:])
        xs.append(rng.uniform(0, 255, shape).astype("float32") if model.name in ("arithmetic", "transfer")
                  else rng.standard_normal(shape).astype("float32"))
    outs = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = model.count_params()
    given = {f"input_{t.name.split(':')[0]}": x for t, x in zip(model.inputs, xs)} if len(xs) > 1 \
        else {"input": xs[0]}
    np.savez(path, **given, **{f"output{i}": o for i, o in enumerate(outs)},
             params=np.array([total, trainable, total - trainable]))
    return total, trainable


def saved_late():
    suffix = "_k2" if LEGACY else "_k3"
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else list(SAVED_LATE)
    others()
    for name, make in SAVED_LATE.items():
        if name not in only:
            continue
        model = make()
        randomize(model)
        stem = os.path.join(HERE, name + suffix)
        model.save(stem + ".keras")
        model.save(stem + ".h5")
        total, trainable = expect(model, stem + ".expect.npz")
        print(f"{name + suffix}: params {total:,} (trainable {trainable:,}); "
              f"{[layer.name for layer in model.layers][1:4]}")


def main():
    if "--saved-late" in sys.argv:
        return saved_late()
    suffix = "_k2" if LEGACY else ""
    for name, make in MODELS.items():
        if LEGACY and name == "normalization":
            pass
        model = make()
        randomize(model)
        stem = os.path.join(HERE, name + suffix)
        if LEGACY:
            model.save(stem + ".h5")
        else:
            model.save(stem + ".keras")
        if name in ("zoo", "transfer"):
            with open(stem + ".json", "w") as fh:
                fh.write(model.to_json())
        total, trainable = expect(model, stem + ".expect.npz")
        print(f"{name + suffix}: params {total:,} (trainable {trainable:,})")


if __name__ == "__main__":
    main()
