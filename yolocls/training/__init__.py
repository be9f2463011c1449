"""Training: presets, weights lookup, device choice, the run folder (run.json, results.csv) and the runner.

May import inference, data and core. Torch and Ultralytics are imported lazily, inside functions.
"""
