"""Every reader under mutation fuzzing (tests/reader_fuzzing.py): seeded mutants of the
project's own fixtures end in a report or a one-line refusal within 5 s, never a traceback
or a hang. CI profile: CNNCOST_READER_FUZZ (default 100) mutants per reader; a campaign is
`CNNCOST_READER_FUZZ=3000 pytest tests/test_fuzz_readers.py`, or
`python tests/reader_fuzzing.py --mutants 3000` for the table with peak memory."""
import os

import pytest

import reader_fuzzing as rf

MUTANTS = int(os.environ.get("CNNCOST_READER_FUZZ", "100"))
READERS = ["onnx", "tflite", "openvino", "keras_zip", "keras_h5", "keras_json", "npz", "npy", "ncnn", "coreml", "pt2",
          "caffe", "caffemodel"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    pytest.importorskip("onnx")
    folder = tmp_path_factory.mktemp("fuzz")
    return folder, rf.prepare(folder)


@pytest.mark.parametrize("reader", READERS)
def test_a_mutated_file_is_read_or_refused_in_one_line(seeds, reader):
    folder, files = seeds
    if reader in ("keras_zip", "keras_h5"):
        pytest.importorskip("h5py")          # their weights are HDF5
    failures = []
    for i, (case, suffix, raw) in enumerate(rf.mutants(reader, files[reader], MUTANTS)):
        kind, seconds, detail = rf.outcome(reader, raw, suffix, folder, verify=i % 3 == 2)
        if kind in ("traceback", "hang") or seconds > rf.SECONDS:
            failures.append(f"{case}: {kind} after {seconds:.1f} s: {detail.strip().splitlines()[-1:]}")
    assert not failures, f"{len(failures)} of {MUTANTS}:\n" + "\n".join(failures[:20])
