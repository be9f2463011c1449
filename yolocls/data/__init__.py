"""Datasets: sources, safe archives, image checks, duplicates, splitting, manifest and `prepare`.

May import core. No torch, no Ultralytics.
"""
