"""TensorFlow Lite: our own FlatBuffer reader (flatbuf), the model file (file), its
operators read onto our kinds (reader, with constants folded in fold and the limits of
what is read in check)."""
