"""Measurement: capture, replay, hot-loop timing and the guard-cost apparatus. It produces
`guardprof.model` objects and never changes one after building it.
"""
