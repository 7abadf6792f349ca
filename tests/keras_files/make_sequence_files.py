"""Regenerate the small Keras files of the sequence and volume readers (Conv1D, Conv3D,
pools and global pools over time and volume, transposed convolutions, padding, cropping
and upsampling of both, LSTM, GRU, SimpleRNN, Bidirectional,
TimeDistributed, Embedding), in a venv with tensorflow-cpu and tf-keras; cnncost itself
never needs them:

    python tests/keras_files/make_sequence_files.py            # Keras 3: M_k3.keras, M_k3.h5
    python tests/keras_files/make_sequence_files.py --legacy   # tf.keras 2: M_k2.keras, M_k2.h5

Each model `M` is saved both ways by the saver and gives `M_k3.expect.npz` (or `_k2`): a
fixed input, Keras' own `predict` on it and Keras' parameter split, as make_keras_files.py
writes them (its `randomize` and `expect` are used)."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_keras_files import HERE, LEGACY, expect, keras, layers, randomize, rng  # noqa: E402

import numpy as np  # noqa: E402


def audio():
    """A raw-audio classifier in small: strided, causal dilated, grouped, depthwise and
    separable 1-D convolutions, 1-D pools of both paddings, both global pools."""
    inp = keras.Input((64, 4), name="wave")
    x = layers.Conv1D(8, 5, strides=2, padding="same", activation="relu", name="front")(inp)        # 32x8
    x = layers.MaxPooling1D(2, name="pool")(x)                                                        # 16x8
    x = layers.Conv1D(8, 3, dilation_rate=2, padding="causal", groups=2, name="causal")(x)            # 16x8
    x = layers.DepthwiseConv1D(3, padding="same", depth_multiplier=2, name="dw")(x)                  # 16x16
    x = layers.SeparableConv1D(6, 3, padding="valid", name="sep")(x)                                  # 14x6
    x = layers.AveragePooling1D(3, strides=2, padding="same", name="avg")(x)                         # 7x6
    x = layers.Conv1D(6, 2, padding="valid", use_bias=False, name="plain")(x)                         # 6x6
    a = layers.GlobalAveragePooling1D(name="gap")(x)
    b = layers.GlobalMaxPooling1D(name="gmp")(x)
    x = layers.Concatenate(name="cat")([a, b])
    return keras.Model(inp, layers.Dense(3, name="head")(x), name="audio")


def volume():
    """A video / volume net in small: 3-D convolutions (a (1, 3, 3) kernel, strides, same and
    valid), 3-D pools, both global pools."""
    inp = keras.Input((6, 8, 8, 2), name="clip")
    x = layers.Conv3D(4, 3, padding="same", activation="relu", name="conv_a")(inp)                   # 6x8x8x4
    x = layers.MaxPooling3D((1, 2, 2), name="pool")(x)                                                # 6x4x4x4
    x = layers.Conv3D(6, (3, 1, 1), strides=(2, 1, 1), padding="same", name="conv_t")(x)             # 3x4x4x6
    x = layers.AveragePooling3D(2, strides=1, padding="valid", name="avg")(x)                       # 2x3x3x6
    x = layers.Conv3D(5, (1, 2, 2), dilation_rate=(1, 2, 2), padding="same", name="dil")(x)          # 2x3x3x5
    a = layers.GlobalAveragePooling3D(name="gap")(x)
    b = layers.GlobalMaxPooling3D(name="gmp")(x)
    return keras.Model(inp, layers.Dense(2, name="head")(layers.Add(name="add")([a, b])), name="volume")


def text():
    """A text classifier: Embedding, stacked LSTM and GRUs (reset_after both ways),
    Bidirectional of each recurrent class, TimeDistributed Dense, a last state."""
    inp = keras.Input((10,), name="tokens")
    x = layers.Embedding(40, 8, name="embed")(inp)                                                    # 10x8
    x = layers.LSTM(6, return_sequences=True, name="lstm")(x)                                         # 10x6
    x = layers.Bidirectional(layers.GRU(5, return_sequences=True), name="bigru")(x)                 # 10x10
    x = layers.GRU(4, reset_after=False, return_sequences=True, name="gru_v1")(x)                    # 10x4
    x = layers.TimeDistributed(layers.Dense(5, activation="tanh"), name="td")(x)                    # 10x5
    s = layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True), name="birnn")(x)           # 10x6
    a = layers.Bidirectional(layers.LSTM(4), name="bilstm")(s)                                        # 8
    b = layers.SimpleRNN(3, activation="relu", name="rnn")(x)                                         # 3
    c = layers.LSTM(2, go_backwards=True, use_bias=False, name="back")(x)                             # 2
    x = layers.Concatenate(name="cat")([a, b, c])
    return keras.Model(inp, layers.Dense(2, name="head")(x), name="text")


def moves1d():
    """Transposed convolutions, padding, cropping and upsampling over time."""
    inp = keras.Input((12, 3), name="wave")
    x = layers.Conv1DTranspose(4, 3, strides=2, padding="same", name="up_a")(inp)                 # 24x4
    x = layers.ZeroPadding1D((1, 2), name="pad")(x)                                                # 27x4
    x = layers.Cropping1D((2, 1), name="crop")(x)                                                  # 24x4
    x = layers.UpSampling1D(2, name="repeat")(x)                                                   # 48x4
    x = layers.Conv1DTranspose(2, 4, strides=3, output_padding=1, name="up_b")(x)                 # 146x2
    return keras.Model(inp, layers.Dense(2, name="head")(layers.GlobalAveragePooling1D(name="gap")(x)),
                       name="moves1d")


def moves3d():
    """Transposed convolutions, padding, cropping and upsampling of a volume."""
    inp = keras.Input((3, 4, 4, 2), name="clip")
    x = layers.Conv3DTranspose(3, (2, 3, 3), strides=(1, 2, 2), padding="same", name="up")(inp)   # 3x8x8x3
    x = layers.ZeroPadding3D(((0, 1), (1, 1), (2, 0)), name="pad")(x)                             # 4x10x10x3
    x = layers.Cropping3D(((1, 0), (0, 2), (1, 1)), name="crop")(x)                               # 3x8x8x3
    x = layers.UpSampling3D((2, 1, 1), name="repeat")(x)                                           # 6x8x8x3
    x = layers.Conv3D(2, 3, strides=2, name="down")(x)                                             # 2x3x3x2
    return keras.Model(inp, layers.Dense(2, name="head")(layers.GlobalMaxPooling3D(name="gmp")(x)),
                       name="moves3d")


MODELS = {"audio": audio, "volume": volume, "text": text, "moves1d": moves1d, "moves3d": moves3d}


def main():
    suffix = "_k2" if LEGACY else "_k3"
    for name, make in MODELS.items():
        model = make()
        randomize(model)
        stem = os.path.join(HERE, name + suffix)
        model.save(stem + ".keras")
        model.save(stem + ".h5")
        if name == "text":                # token ids, not the standard normal expect() draws
            ids = rng.integers(0, 40, (2, 10)).astype("float32")
            out = model.predict(ids, verbose=0)
            trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
            total = model.count_params()
            np.savez(stem + ".expect.npz", input=ids, output0=out,
                     params=np.array([total, trainable, total - trainable]))
        else:
            total, trainable = expect(model, stem + ".expect.npz")
        print(f"{name + suffix}: params {total:,} (trainable {trainable:,})")


if __name__ == "__main__":
    main()
