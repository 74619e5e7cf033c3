"""Text, HTML and plots of model objects. Renderers only read; no torch here.
"""
