"""Where dynamo's code shows up in sampled and profiled stacks: torch's file paths and C++ names.

Torch-free on purpose (the profilers read py-spy and pstats output with it), but it is torch's
knowledge, so it lives with the rest of what dynamo looks like from outside.
"""

from __future__ import annotations

import re

# The frame dynamo's C++ cache lookup runs in (torch/csrc/dynamo/extra_state.cpp), and the guard
# managers it calls; either marks the start of guard evaluation in a native stack.
LOOKUP_FRAME = "lookup"
GUARD_MANAGER_MARK = "GuardManager::check"
# Dynamo's compiler entry on a cache miss: samples under it are compilation, not the hot loop.
COMPILE_FILE_MARK = "torch/_dynamo/convert_frame.py"
# A compiled call runs under dynamo's wrapper (eval_frame.py) and its C eval-frame hook.
COMPILED_CALL_MARKS = ("torch/_dynamo/eval_frame.py", "dynamo__custom_eval_frame")
DYNAMO_MARKS = (
    "torch/_dynamo/", "dynamo__custom_eval_frame", "torch::dynamo::", GUARD_MANAGER_MARK,
)

# Guard kinds are ALL_CAPS classes (TENSOR_MATCH, LAMBDA_GUARD); the managers, accessors and
# checks that run them have Guard/Check/Accessor/FrameLocals in their class name.
GUARD_CLASS = re.compile(
    r"^(?:[A-Z][A-Z0-9_]+|\w*(?:Guard|Check|Accessor|FrameLocals)\w*)(?:<.*>)?::"
)
# Dynamo's Python-level (lambda) guards live here: cProfile sees them as their own functions.
GUARDS_FILE_MARK = "torch/_dynamo/guards.py"
