"""What is run: workload specs, the standard benchmark, `--target` loading, and the runner
(prepare, warm-up, the timed loops).
"""
