"""Inference without torch: the one preprocessing, the Predictor interface, the ONNX predictor, response schemas.

May import core and data's pure helpers, never torch, torchvision, Ultralytics, scikit-learn or pandas
(checked by import-linter, see pyproject.toml).
"""
