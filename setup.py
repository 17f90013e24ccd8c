"""Packaging: metadata lives in pyproject.toml; this file adds the server extension's config file."""
from setuptools import setup

setup(
    data_files=[
        ("etc/jupyter/jupyter_server_config.d", ["jupyter-config/jupyter_server_config.d/jupyter_pipelines.json"]),
    ],
)
