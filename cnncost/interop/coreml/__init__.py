"""Core ML models (.mlpackage folders and .mlmodel files), counted: interop/coreml/reader.py."""
