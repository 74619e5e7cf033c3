"""The command line: the click group, the options shared by commands, one module per command.

Commands orchestrate the pipeline (workload → measure → model → analysis → render) and own exit
codes; nothing below them prints or exits.
"""
