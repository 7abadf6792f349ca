"""OpenVINO IR (NAME.xml + NAME.bin): read as the ONNX graph it is equivalent to (reader.py)."""
