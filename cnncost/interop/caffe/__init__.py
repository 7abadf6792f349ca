"""Caffe: a deploy `.prototxt` (protobuf text) counted with no framework, its `.caffemodel`
(binary protobuf, beside it under the same stem) read for `run`."""
