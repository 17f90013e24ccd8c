"""The Jupyter server extension: REST API, server-sent events and the jupyter_events bus."""
