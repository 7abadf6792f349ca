"""Keras: the .keras archive, legacy .h5 and model.to_json() files (archive; HDF5 headers
checked by hdf5_guard before libhdf5 reads them), their configs read onto our kinds
(reader, layers, graph, shared) and their weights (weights)."""
