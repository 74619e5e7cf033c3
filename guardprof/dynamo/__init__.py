"""The only code that touches torch's private dynamo APIs or parses torch's printed forms.

Dynamo's introspection surface moves between releases; these modules own the differences so the
rest of guardprof sees stable types. Where an API is missing they record a plain note instead of
failing, and callers print it beside the figure it affects.
"""
