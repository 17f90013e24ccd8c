"""What runs inside a job process.

``job`` and ``serialize`` need only the standard library and fsspec: they are copied into
exported zips as ``runtime/``, so they import nothing from the rest of jupyter_pipelines. The
modules that run jobs for the engine's backends (``process``, ``forkserver``, ``__main__``)
also use ``runner.tree`` to keep track of what each job starts.
"""
