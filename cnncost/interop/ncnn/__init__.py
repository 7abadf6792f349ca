"""NCNN models (NAME.param with NAME.bin beside it): see reader.py."""
