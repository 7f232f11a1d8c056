"""Exporting a run's model (ONNX, TorchScript) and predicting with an ONNX file on onnxruntime alone.

exporter.py needs PyTorch; runtime.py, pixels.py and metadata.py do not, and importing this package imports none of
them, so `cnnlab predict MODEL.onnx` runs without PyTorch."""
