"""``python -m jupyter_pipelines``: the command line."""
from .cli import main

raise SystemExit(main())
