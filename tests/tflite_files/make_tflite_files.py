"""Regenerate the small .tflite files the TFLite reader is tested on, with TensorFlow's own
converter (run in a venv with tensorflow-cpu; cnncost never needs it):

    python tests/tflite_files/make_tflite_files.py

Each model `M` gives M_float32.tflite (not MobileNetV2's), M_float16.tflite and M_int8.tflite (full integer,
int8 input and output, per-channel weights), each with M_<precision>.expect.npz: a real
input, what the TFLite interpreter gives for it (the int8 file's raw int8 output and its
scale and zero point), and for the int8 file the quantized input it was given."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np
import tensorflow as tf
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


def ops():
    """What the converter emits for hand-written CNNs, one of each."""
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw")(x)
    x = layers.Add(name="add")([x, y])
    x = layers.BatchNormalization(name="bn")(x)                   # folded, or a MUL and an ADD
    a = layers.AveragePooling2D(2, name="avg")(x)
    m = layers.MaxPooling2D(2, name="max")(x)
    x = layers.Concatenate(name="cat")([a, m])                   # 8x8x16
    x = layers.ZeroPadding2D(1, name="pad")(x)
    x = layers.Conv2D(12, 3, strides=2, name="down")(x)          # 4x4x12
    x = layers.Activation("hard_swish", name="hswish")(x)
    x = layers.Multiply(name="gate")([x, layers.Activation("sigmoid", name="sig")(x)])
    x = layers.Conv2DTranspose(6, 3, strides=2, padding="same", name="deconv")(x)   # 8x8x6
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up")(x)             # 16x16x6
    x = layers.LeakyReLU(0.1, name="leaky")(x)
    fmap = layers.Activation("tanh", name="tanh")(x)                              # 1,536 values to compare
    x = layers.GlobalAveragePooling2D(name="gap")(fmap)
    x = layers.Dense(10, name="fc")(x)
    return keras.Model(inp, [layers.Softmax(name="prob")(x), fmap], name="ops")


def more_ops():
    """The rest of what hand-written models convert to: SPLIT, STRIDED_SLICE, nearest
    resize, SUB and DIV with constants, MAXIMUM, BATCH_MATMUL of two activations, squeeze."""
    inp = keras.Input((8, 8, 6), name="x")
    a, b = keras.ops.split(inp, 2, axis=-1)                         # SPLIT
    x = layers.Conv2D(4, 3, padding="same", name="ca")(a) - 0.5      # SUB with a constant
    y = layers.Conv2D(4, 3, padding="same", name="cb")(b[:, 1:7, :, :])   # STRIDED_SLICE
    y = layers.ZeroPadding2D(((1, 1), (0, 0)), name="padb")(y)
    x = keras.ops.maximum(x, y) / 2.0                                # MAXIMUM, DIV
    x = layers.Resizing(16, 16, interpolation="nearest", name="near")(x)
    t = layers.Reshape((256, 4), name="tokens")(x)
    att = keras.ops.matmul(t, keras.ops.transpose(t, (0, 2, 1)))     # BATCH_MATMUL: 256 x 256
    att = layers.Softmax(name="sm")(att)
    out = keras.ops.matmul(att, t)                                   # 256 x 4
    return keras.Model(inp, layers.Reshape((1024,), name="flat")(out), name="more_ops")


def mobilenet_v2():
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)


MODELS = {"ops": ops, "more_ops": more_ops, "mobilenet_v2": mobilenet_v2}


def randomize(model):
    for layer in model.layers:
        new = []
        for v, w in zip(layer.weights, layer.get_weights()):
            if "variance" in v.name:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            elif "gamma" in v.name:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            else:
                fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 9
                new.append((rng.standard_normal(w.shape) / np.sqrt(fan_in)).astype(w.dtype))
        if new:
            layer.set_weights(new)


def convert(model, precision, samples):
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "float16":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([s[None]] for s in samples)
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8
    return c.convert()


def expect(path, x):
    it = tf.lite.Interpreter(model_path=path)
    it.allocate_tensors()
    i = it.get_input_details()[0]
    feed = x
    if i["dtype"] == np.int8:
        s, z = i["quantization"]
        feed = np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)
    it.set_tensor(i["index"], feed)
    it.invoke()
    outs = {}
    for k, o in enumerate(it.get_output_details()):      # in the subgraph's order of outputs
        outs[f"output{k}"] = it.get_tensor(o["index"])
        outs[f"quantization{k}"] = np.array(o["quantization"], dtype=np.float64)
    np.savez_compressed(path.replace(".tflite", ".expect.npz"), input=x, fed=feed, **outs)


def main():
    for name, make in MODELS.items():
        model = make()
        randomize(model)
        shape = tuple(model.inputs[0].shape[1:])
        samples = rng.uniform(-1, 1, (32,) + shape).astype("float32")
        x = (np.round(rng.uniform(-1, 1, (1,) + shape) * 16) / 16).astype("float32")   # compresses
        for precision in ("float32", "float16", "int8"):
            if (name == "mobilenet_v2" and precision == "float32") or (name == "more_ops" and precision == "float16"):
                continue            # 1.7 MB: the float16 file and the Keras model stand for it
            path = os.path.join(HERE, f"{name}_{precision}.tflite")
            with open(path, "wb") as fh:
                fh.write(convert(model, precision, samples))
            expect(path, x)
            print(f"{os.path.basename(path)}: {os.path.getsize(path):,} bytes")
        if name == "mobilenet_v2":
            with open(os.path.join(HERE, "mobilenet_v2.json"), "w") as fh:
                fh.write(model.to_json())


if __name__ == "__main__":
    main()
