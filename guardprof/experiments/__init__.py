"""Experiments built from the workload and measure stages: the sweep and what-if.
"""
