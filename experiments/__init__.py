"""Batches of scenario runs: experiment files, the runner and the results store."""
