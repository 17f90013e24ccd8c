"""The package version (one place: the package, the export's manifest and packaging read it)."""
__version__ = "0.1.0"
