"""The hot loop under cProfile and under py-spy.
"""
