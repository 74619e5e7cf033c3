"""What the numbers mean: comparison, intervals, findings, guard diffs, the cost model and
sampled-stack analysis. Works on model objects only; no torch here.
"""
