"""Foundation: the error hierarchy, atomic filesystem helpers, image conventions, offline Ultralytics setup.

Imports nothing from yolocls; every other layer may import it.
"""
