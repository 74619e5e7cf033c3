"""Report dataclasses and the one JSON envelope (save, load, schema version). No torch here.
"""
