"""Evaluation: metrics, plots, `report` and the runs leaderboard.

May import training, inference, data and core.
"""
