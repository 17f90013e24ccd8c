"""The process plumbing of the compute backends: the fork server's client, the run queue, job threads.

The backends themselves are the modules of ``compute/`` (one each, like fsspec's implementations);
what a job process does to itself (its process tree) is ``runner.tree``.
"""
