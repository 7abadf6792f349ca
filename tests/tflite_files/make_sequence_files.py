"""Regenerate the .tflite files of convolutions over time and volume and of recurrent layers
(tests/test_tflite_sequences.py), with TensorFlow's own converter and interpreter (run in a
venv with tensorflow-cpu and tf-keras; cnncost never needs them):

    python tests/tflite_files/make_sequence_files.py

Keras 3 models: a Conv1D audio net (dilated, causal, separable, pools), a Conv3D volume net,
a model of two inputs and a GRU (which the converter writes as a WHILE loop). tf_keras
(Keras 2) models, the only ones whose LSTM the converter fuses into
UNIDIRECTIONAL_SEQUENCE_LSTM (Keras 3's LSTM, and every GRU and SimpleRNN, become WHILE): a
stacked LSTM with go_backwards, a Bidirectional LSTM and a Conv1D + LSTM CRNN. The converter
writes no UNIDIRECTIONAL_SEQUENCE_RNN, BIDIRECTIONAL_SEQUENCE_LSTM or
BIDIRECTIONAL_SEQUENCE_RNN from any Keras layer, so those files are assembled here with
TFLite's own schema (the flatbuffer object API of tensorflow.lite.python) from a Keras
layer's weights, and checked against that layer before their expected outputs are kept.

Each file M gets M.expect.npz: the inputs (input0, input1 ... in the subgraph's order; fed0 ...
as given to the interpreter), what the interpreter gives (output0 ...) and each output's
quantization. The parameter counts pinned in the test are printed (Keras' count_params())."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import flatbuffers
import keras
import numpy as np
import tensorflow as tf
import tf_keras
from make_tflite_files import convert, randomize
from tensorflow.lite.python import schema_py_generated as schema

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(36)
L, L2 = keras.layers, tf_keras.layers


def conv1d():
    """An audio net: a dilated conv on an odd length (the converter's crop), strided, causal
    and dilated, separable and dilated, max and average pools, a global average."""
    inp = keras.Input((63, 3), name="audio")
    x = L.Conv1D(8, 3, dilation_rate=2, padding="same", name="dil")(inp)
    x = L.Conv1D(8, 5, strides=2, padding="same", activation="relu", name="stride")(x)
    x = L.MaxPooling1D(2, name="max")(x)
    x = L.Conv1D(12, 3, dilation_rate=4, padding="causal", activation="relu", name="causal")(x)
    x = L.SeparableConv1D(12, 3, dilation_rate=2, padding="same", name="sep")(x)
    x = L.AveragePooling1D(2, name="avg")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    return keras.Model(inp, L.Dense(4, name="fc")(x), name="conv1d")


def conv3d():
    inp = keras.Input((6, 8, 8, 2), name="volume")
    x = L.Conv3D(4, 3, padding="same", activation="relu", name="c1")(inp)
    x = L.Conv3D(6, (1, 3, 3), strides=(1, 2, 2), padding="same", name="c2")(x)
    x = L.Conv3D(6, 3, padding="valid", activation="relu", name="c3")(x)       # dilated: not convertible
    x = L.GlobalAveragePooling3D(name="gap")(x)
    return keras.Model(inp, L.Dense(3, name="fc")(x), name="conv3d")


def conv3d_transpose():
    """A volume decoder: transposed 3-D convolutions, same and valid, strided. (Strides that
    differ between axes, (1, 2, 2) with a 3-kernel and 'same', run differently in the TFLite
    interpreter than in Keras, by up to 0.48 on unit inputs (TF 2.21): not a fixture.)"""
    inp = keras.Input((3, 4, 4, 2), name="code")
    x = L.Conv3DTranspose(4, 3, strides=2, padding="same", activation="relu", name="up1")(inp)
    x = L.Conv3DTranspose(3, (2, 3, 3), strides=1, padding="valid", name="up2")(x)
    x = L.GlobalAveragePooling3D(name="gap")(x)
    return keras.Model(inp, L.Dense(2, name="fc")(x), name="conv3d_transpose")


def two_inputs():
    image, extra = keras.Input((8, 8, 3), name="image"), keras.Input((5,), name="extra")
    x = L.GlobalAveragePooling2D(name="gap")(L.Conv2D(4, 3, activation="relu", name="conv")(image))
    x = L.Concatenate(name="cat")([x, L.Dense(4, name="side")(extra)])
    return keras.Model([image, extra], L.Dense(2, name="fc")(x), name="two_inputs")


def gru_while():
    inp = keras.Input((10, 6), batch_size=1, name="tokens")
    return keras.Model(inp, L.GRU(8, name="gru")(inp), name="gru_while")


def lstm():
    """Stacked: every step's state into an LSTM that reads backwards and keeps its last."""
    inp = tf_keras.Input((12, 5), batch_size=1, name="tokens")
    x = L2.LSTM(8, return_sequences=True, name="l1")(inp)
    x = L2.LSTM(6, go_backwards=True, name="l2")(x)
    return tf_keras.Model(inp, L2.Dense(3, name="fc")(x), name="lstm")


def bilstm():
    inp = tf_keras.Input((10, 4), batch_size=1, name="tokens")
    x = L2.Bidirectional(L2.LSTM(6, return_sequences=True), name="bi1")(inp)
    x = L2.Bidirectional(L2.LSTM(4), name="bi2")(x)
    return tf_keras.Model(inp, L2.Dense(2, name="fc")(x), name="bilstm")


def crnn():
    inp = tf_keras.Input((32, 4), batch_size=1, name="audio")
    x = L2.Conv1D(8, 3, activation="relu", name="conv")(inp)
    x = L2.MaxPooling1D(2, name="pool")(x)
    x = L2.LSTM(6, name="lstm")(x)
    return tf_keras.Model(inp, L2.Dense(3, name="fc")(x), name="crnn")


def text_lstm():
    """A text classifier (tf_keras: its LSTM fuses): Embedding of int32 token ids (GATHER of
    the table), an LSTM, a Dense."""
    inp = tf_keras.Input((10,), batch_size=1, dtype="int32", name="tokens")
    x = L2.Embedding(VOCAB, 8, name="embed")(inp)
    x = L2.LSTM(6, name="lstm")(x)
    return tf_keras.Model(inp, L2.Dense(2, name="fc")(x), name="text_lstm")


CONVERTED = {"conv1d": (conv1d, ("float32", "int8")), "conv3d": (conv3d, ("float32", "int8")),
             "conv3d_transpose": (conv3d_transpose, ("float32",)), "two_inputs": (two_inputs, ("float32",)), "gru_while": (gru_while, ("float32",)),
             "lstm": (lstm, ("float32",)), "text_lstm": (text_lstm, ("float32",)), "bilstm": (bilstm, ("float32",)), "crnn": (crnn, ("float32",))}


# ---- files assembled with TFLite's schema: the fused operators no Keras layer converts to ----
class Assembled:
    """One subgraph of float32 tensors and builtin operators, written as a .tflite."""

    def __init__(self, description: str):
        self.model = schema.ModelT()
        self.model.version, self.model.description = 3, description
        self.model.buffers, self.model.operatorCodes = [schema.BufferT()], []
        self.graph = schema.SubGraphT()
        self.graph.tensors, self.graph.operators = [], []

    def tensor(self, name, shape, data=None, variable=False) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.isVariable = name, list(shape), schema.TensorType.FLOAT32, variable
        if data is not None:
            b = schema.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, np.float32).tobytes(), np.uint8)
            self.model.buffers.append(b)
            t.buffer = len(self.model.buffers) - 1
        self.graph.tensors.append(t)
        return len(self.graph.tensors) - 1

    def op(self, code: int, inputs, outputs, options_type: int, options) -> None:
        c = schema.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
        self.model.operatorCodes.append(c)
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = len(self.model.operatorCodes) - 1, list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.graph.operators.append(o)

    def write(self, path: str, inputs, outputs) -> None:
        self.graph.inputs, self.graph.outputs = list(inputs), list(outputs)
        self.model.subgraphs = [self.graph]
        b = flatbuffers.Builder(1024)
        b.Finish(self.model.Pack(b), file_identifier=b"TFL3")
        with open(path, "wb") as fh:
            fh.write(b.Output())


def _lstm_block(a: Assembled, prefix: str, kernel, recurrent, bias) -> list:
    """A direction's 17 inputs from Keras' LSTM weights (gates i, f, c, o side by side)."""
    h = recurrent.shape[0]
    gate = lambda w, g: np.ascontiguousarray(w[:, g * h:(g + 1) * h].T)        # noqa: E731
    ins = [a.tensor(f"{prefix}/w_{n}", (h, kernel.shape[0]), gate(kernel, g)) for g, n in enumerate("ifco")]
    ins += [a.tensor(f"{prefix}/r_{n}", (h, h), gate(recurrent, g)) for g, n in enumerate("ifco")]
    ins += [-1, -1, -1]
    ins += [a.tensor(f"{prefix}/b_{n}", (h,), bias[g * h:(g + 1) * h]) for g, n in enumerate("ifco")]
    return ins + [-1, -1]


def fused_bilstm(path: str):
    """BIDIRECTIONAL_SEQUENCE_LSTM (merged outputs, batch-first) from a Keras Bidirectional LSTM."""
    T, C, H = 9, 4, 5
    layer = L.Bidirectional(L.LSTM(H, return_sequences=True), name="bi")
    model = keras.Sequential([keras.Input((T, C), batch_size=1), layer])
    randomize(model)
    a = Assembled("cnncost test fixture: BIDIRECTIONAL_SEQUENCE_LSTM from a Keras Bidirectional(LSTM(5))")
    x = a.tensor("tokens", (1, T, C))
    fw, bw = layer.forward_layer.get_weights(), layer.backward_layer.get_weights()
    ins = [x] + _lstm_block(a, "fw", *fw) + _lstm_block(a, "bw", *bw)
    ins += [a.tensor(f"state{k}", (1, H), variable=True) for k in range(4)] + [-1] * 9
    y = a.tensor("bi/output", (1, T, 2 * H))
    opt = schema.BidirectionalSequenceLSTMOptionsT()
    opt.fusedActivationFunction, opt.cellClip, opt.mergeOutputs, opt.timeMajor = 4, 10.0, True, False
    a.op(52, ins, [y], schema.BuiltinOptions.BidirectionalSequenceLSTMOptions, opt)
    a.write(path, [x], [y])
    return model, 2 * (4 * H * (C + H) + 4 * H)


def fused_rnn(path: str):
    """UNIDIRECTIONAL_SEQUENCE_RNN (tanh) from a Keras SimpleRNN, then a ReLU one from a second."""
    T, C, H1, H2 = 9, 5, 7, 4
    model = keras.Sequential([keras.Input((T, C), batch_size=1), L.SimpleRNN(H1, return_sequences=True),
                              L.SimpleRNN(H2, activation="relu", return_sequences=True)])
    randomize(model)
    a = Assembled("cnncost test fixture: UNIDIRECTIONAL_SEQUENCE_RNN from Keras SimpleRNN layers")
    x = a.tensor("tokens", (1, T, C))
    y = x
    for k, (layer, act) in enumerate(zip(model.layers, (4, 1))):
        kernel, recurrent, bias = layer.get_weights()
        h = recurrent.shape[0]
        ins = [y, a.tensor(f"rnn{k}/w", (h, kernel.shape[0]), kernel.T), a.tensor(f"rnn{k}/r", (h, h), recurrent.T),
               a.tensor(f"rnn{k}/b", (h,), bias), a.tensor(f"rnn{k}/state", (1, h), variable=True)]
        y = a.tensor(f"rnn{k}/output", (1, T, h))
        opt = schema.SequenceRNNOptionsT()
        opt.timeMajor, opt.fusedActivationFunction = False, act
        a.op(35, ins, [y], schema.BuiltinOptions.SequenceRNNOptions, opt)
    a.write(path, [x], [y])
    return model, sum(layer.count_params() for layer in model.layers)


def fused_birnn(path: str):
    """BIDIRECTIONAL_SEQUENCE_RNN (ReLU), its two outputs apart, from a Keras Bidirectional SimpleRNN."""
    T, C, H = 8, 3, 5
    layer = L.Bidirectional(L.SimpleRNN(H, activation="relu", return_sequences=True), merge_mode=None)
    inp = keras.Input((T, C), batch_size=1)
    model = keras.Model(inp, layer(inp))
    randomize(model)
    a = Assembled("cnncost test fixture: BIDIRECTIONAL_SEQUENCE_RNN from a Keras Bidirectional(SimpleRNN(5))")
    x = a.tensor("tokens", (1, T, C))
    ins = [x]
    for name, sub in (("fw", layer.forward_layer), ("bw", layer.backward_layer)):
        kernel, recurrent, bias = sub.get_weights()
        ins += [a.tensor(f"{name}/w", (H, C), kernel.T), a.tensor(f"{name}/r", (H, H), recurrent.T),
                a.tensor(f"{name}/b", (H,), bias), a.tensor(f"{name}/state", (1, H), variable=True)]
    ys = [a.tensor("fw/output", (1, T, H)), a.tensor("bw/output", (1, T, H))]
    opt = schema.BidirectionalSequenceRNNOptionsT()
    opt.timeMajor, opt.fusedActivationFunction, opt.mergeOutputs = False, 1, False
    a.op(46, ins + [-1, -1, -1], ys, schema.BuiltinOptions.BidirectionalSequenceRNNOptions, opt)
    a.write(path, [x], ys)
    return model, layer.count_params()


ASSEMBLED = {"rnn_fused": fused_rnn, "bilstm_fused": fused_bilstm, "birnn_fused": fused_birnn}


# ---- expected outputs -------------------------------------------------------------------------
def expect(path: str, xs: list) -> list:
    """Run the interpreter on xs (one array per input, in the subgraph's order) and keep it."""
    it = tf.lite.Interpreter(model_path=path)
    it.allocate_tensors()
    keep = {}
    for k, (d, x) in enumerate(zip(it.get_input_details(), xs)):
        feed = x
        if d["dtype"] == np.int8:
            s, z = d["quantization"]
            feed = np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)
        it.set_tensor(d["index"], feed)
        keep[f"input{k}"], keep[f"fed{k}"] = x, feed
    it.invoke()
    outs = []
    for k, o in enumerate(it.get_output_details()):
        outs.append(it.get_tensor(o["index"]))
        keep[f"output{k}"], keep[f"quantization{k}"] = outs[-1], np.array(o["quantization"], np.float64)
    np.savez_compressed(path.replace(".tflite", ".expect.npz"), **keep)
    return outs


VOCAB = 40        # the text model's table: integer inputs are token ids below it


def _inputs(path: str) -> list:
    it = tf.lite.Interpreter(model_path=path)
    return [rng.integers(0, VOCAB, d["shape"]).astype(d["dtype"]) if np.issubdtype(d["dtype"], np.integer)
            else (np.round(rng.uniform(-1, 1, d["shape"]) * 16) / 16).astype("float32")
            for d in it.get_input_details()]


def _by_name(model, path: str, xs: list) -> list:
    """xs (in the file's order) as the Keras model takes its inputs."""
    names = [d["name"] for d in tf.lite.Interpreter(model_path=path).get_input_details()]
    return [next(x for n, x in zip(names, xs) if i.name in n) for i in model.inputs] if len(xs) > 1 else xs


def main():
    for name, (make, precisions) in CONVERTED.items():
        keras.utils.set_random_seed(36)
        model = make()
        randomize(model)
        samples = [rng.uniform(-1, 1, (32,) + tuple(i.shape[1:])).astype("float32") for i in model.inputs]
        for precision in precisions:
            path = os.path.join(HERE, f"{name}_{precision}.tflite")
            with open(path, "wb") as fh:
                fh.write(convert(model, precision, samples[0]))
            if name == "gru_while":                # the reader refuses it: nothing to compare
                print(f"{os.path.basename(path)}: {os.path.getsize(path):,} bytes")
                continue
            xs = _inputs(path)
            outs = expect(path, xs)
            if precision == "float32":
                ref = model.predict(_by_name(model, path, xs), verbose=0)
                assert np.allclose(outs[0], ref, atol=1e-4), f"{name}: the interpreter and Keras differ"
            print(f"{os.path.basename(path)}: {os.path.getsize(path):,} bytes; Keras params "
                  f"{model.count_params():,}")
    for name, make in ASSEMBLED.items():
        keras.utils.set_random_seed(36)
        path = os.path.join(HERE, f"{name}_float32.tflite")
        model, params = make(path)
        xs = _inputs(path)
        outs = expect(path, xs)
        ref = model.predict(xs[0], verbose=0)
        ref = list(ref) if isinstance(ref, (list, tuple)) else [ref]
        for got, want in zip(outs, ref):
            assert np.allclose(got, want, atol=1e-4), f"{name}: the assembled file and Keras differ"
        print(f"{os.path.basename(path)}: {os.path.getsize(path):,} bytes; Keras params {params:,}")


if __name__ == "__main__":
    main()
