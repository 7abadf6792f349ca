"""Make the small ONNX fixtures of tests/test_onnx_sequences.py with PyTorch's exporter
(the TorchScript one, dynamo=False, which writes LSTM, GRU and RNN as single operators):

    /work/venv-torch/bin/python tests/onnx_files/make_sequence_files.py

Each model is tiny (a few thousand parameters) and seeded; `EXPECT` below is what the
tests pin: PyTorch's own parameter count (numel) of each module, printed here."""
import os

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Recurrent(nn.Module):
    """A recurrent module on a batch-first (N, T, C) input; `last`: its final state (of a
    stack, h_n[-1]: every layer's Y_h concatenated, then the last row gathered)."""

    def __init__(self, cls, batch_first, last=False, **kw):
        super().__init__()
        self.rnn, self.batch_first, self.last = cls(batch_first=batch_first, **kw), batch_first, last

    def forward(self, x):
        y, h = self.rnn(x if self.batch_first else x.transpose(0, 1))
        if self.last:
            return (h[0] if isinstance(h, tuple) else h)[-1]
        return y if self.batch_first else y.transpose(0, 1)


class M5(nn.Module):
    """An M5-like raw-audio classifier, tiny: strided Conv1d front end, BN, ReLU, max pools."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Conv1d(1, 8, 20, stride=4, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(4),
                               nn.Conv1d(8, 8, 3, padding=1, dilation=1), nn.BatchNorm1d(8), nn.ReLU(),
                               nn.AvgPool1d(2), nn.Conv1d(8, 16, 3, padding=2, dilation=2, groups=2), nn.ReLU(),
                               nn.AdaptiveAvgPool1d(1))
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.f(x), 1))


class R2Plus1D(nn.Module):
    """An R(2+1)D-like video block, tiny: a (1, 3, 3) spatial then a (3, 1, 1) temporal
    Conv3d, BN, ReLU, a residual add, a 3-D max pool and a global average pool."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, 6, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False),
                                  nn.BatchNorm3d(6), nn.ReLU(),
                                  nn.Conv3d(6, 8, (3, 1, 1), padding=(1, 0, 0), bias=False), nn.BatchNorm3d(8),
                                  nn.ReLU())
        self.block = nn.Sequential(nn.Conv3d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0)))
        self.pool = nn.MaxPool3d(2)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        x = nn.functional.adaptive_avg_pool3d(self.pool(x), 1)
        return self.head(torch.flatten(x, 1))


class CRNN(nn.Module):
    """A tiny CRNN: a Conv2d stack to height 1, squeezed and permuted to time-first (W, N, C),
    a bidirectional LSTM (batch_first=False), a Linear on every step: (T, N, classes)."""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, (4, 1)),
                                 nn.ReLU())
        self.rnn = nn.LSTM(6, 5, bidirectional=True)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):                      # (N, 1, 8, W)
        y, _ = self.rnn(self.cnn(x).squeeze(2).permute(2, 0, 1))
        return self.fc(y)


class CRNN2(CRNN):
    """crnn.pytorch's head: two bidirectional LSTMs, each followed by a Linear on the steps
    flattened into the batch (view(T * N, h)) and unflattened (view(T, N, -1))."""

    def __init__(self):
        super().__init__()
        self.rnn2 = nn.LSTM(3, 4, bidirectional=True)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        y, _ = self.rnn(self.cnn(x).squeeze(2).permute(2, 0, 1))
        t, n, h = y.size()
        y = self.fc(y.view(t * n, h)).view(t, n, -1)
        y, _ = self.rnn2(y)
        t, n, h = y.size()
        return self.fc2(y.view(t * n, h)).view(t, n, -1)


class SeqFirstLast(nn.Module):
    """PyTorch's seq-first idiom: a 2-layer LSTM on (T, N, C), its last step y[-1], a Linear."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5, num_layers=2)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[-1])


class TextBiLSTM(nn.Module):
    """A text classifier: nn.Embedding(30, 6) of int64 token ids, a bidirectional LSTM
    (batch_first), its last step, a Linear."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 6)
        self.lstm = nn.LSTM(6, 4, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, ids):
        y, _ = self.lstm(self.emb(ids))
        return self.fc(y[:, -1])


class BareGRU(nn.GRU):
    """nn.GRU as users analyze it: its own (T, N, C) input, (output, h_n) both returned."""


MODELS = {
    "lstm_bidir2_bf": (lambda: Recurrent(nn.LSTM, True, input_size=6, hidden_size=5, num_layers=2,
                                         bidirectional=True), (1, 7, 6)),
    "gru_2layer_sf": (lambda: Recurrent(nn.GRU, False, input_size=6, hidden_size=4, num_layers=2), (1, 5, 6)),
    "gru_bidir_last": (lambda: Recurrent(nn.GRU, True, last=True, input_size=3, hidden_size=4,
                                         bidirectional=True), (1, 6, 3)),
    "rnn_relu_bidir": (lambda: Recurrent(nn.RNN, True, input_size=4, hidden_size=3, nonlinearity="relu",
                                         bidirectional=True), (1, 6, 4)),
    "lstm_last": (lambda: Recurrent(nn.LSTM, False, last=True, input_size=4, hidden_size=3, num_layers=2), (1, 5, 4)),
    "m5_tiny": (M5, (1, 1, 400)),
    "r2plus1d_tiny": (R2Plus1D, (1, 3, 4, 16, 16)),
    "gru_bare_tf": (lambda: BareGRU(4, 3, num_layers=2, bidirectional=True), (5, 1, 4)),
    "crnn_tiny": (CRNN, (1, 1, 8, 12)),
    "crnn2_tiny": (CRNN2, (1, 1, 8, 12)),
    "lstm_sf_last": (SeqFirstLast, (6, 1, 4)),
    "text_bilstm": (TextBiLSTM, (1, 9)),
}
INTEGER_IDS = {"text_bilstm": 30}           # models whose input is token ids below this
OUTPUTS = {"gru_bare_tf": ["output", "h_n"]}


def main():
    for name, (make, shape) in MODELS.items():
        torch.manual_seed(0)
        model = make().eval()
        for m in model.modules():          # BN statistics that are not the identity
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
        path = os.path.join(HERE, f"{name}.onnx")
        example = torch.randint(0, INTEGER_IDS[name], shape) if name in INTEGER_IDS else torch.randn(*shape)
        torch.onnx.export(model, example, path, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=OUTPUTS.get(name, ["output"]))
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {os.path.getsize(path)} bytes, torch params {params}")


if __name__ == "__main__":
    main()
