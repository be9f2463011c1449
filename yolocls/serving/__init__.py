"""The HTTP prediction service: app factory, routes, middleware (limits, Prometheus), micro-batching, settings.

May import inference, data and core; never torch, Ultralytics, scikit-learn or pandas (checked by import-linter).
"""
