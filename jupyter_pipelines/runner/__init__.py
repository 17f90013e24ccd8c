"""What runs inside a job process; it needs only the standard library and fsspec.

The same modules are copied into exported zips as ``runtime/``, so they import nothing
from the rest of jupyter_pipelines.
"""
