"""yolocls studio: the pipeline as a self-hosted service (datasets, training jobs on Ray, runs, models).

May import every layer below it. The web process never imports torch or Ultralytics: only
`studio.worker` (code that runs inside Ray worker processes) reaches the training side, lazily.
"""
