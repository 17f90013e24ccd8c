"""``requirements.txt`` of an export: fsspec, the filesystems of its inputs, the packages its operations import."""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable, Mapping

#: Import names whose distribution (what pip installs) is named differently.
IMPORT_TO_DISTRIBUTION = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python",
    "PIL": "Pillow",
    "yaml": "PyYAML",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "attr": "attrs",
    "Crypto": "pycryptodome",
    "OpenSSL": "pyOpenSSL",
    "jwt": "PyJWT",
    "dotenv": "python-dotenv",
    "serial": "pyserial",
    "zmq": "pyzmq",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "Bio": "biopython",
    "fitz": "PyMuPDF",
    "MySQLdb": "mysqlclient",
    "psycopg2": "psycopg2-binary",
    "sentence_transformers": "sentence-transformers",
    "google.protobuf": "protobuf",
    "tables": "tables",
    "lal": "lalsuite",
    "Levenshtein": "python-Levenshtein",
    "magic": "python-magic",
    "gi": "PyGObject",
    "win32api": "pywin32",
}
#: fsspec protocols and the distribution that implements them (None: fsspec itself).
PROTOCOL_TO_DISTRIBUTION = {
    "file": None, "local": None, "memory": None, "zip": None, "tar": None, "ftp": None, "reference": None,
    "s3": "s3fs", "s3a": "s3fs",
    "gcs": "gcsfs", "gs": "gcsfs",
    "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs", "adl": "adlfs",
    "http": "aiohttp", "https": "aiohttp",
    "sftp": "paramiko", "ssh": "paramiko",
    "hf": "huggingface_hub",
    "webdav": "webdav4",
    "dropbox": "dropboxdrivefs",
    "oci": "ocifs",
    "oss": "ossfs",
    "smb": "smbprotocol",
}
NOT_SHIPPED = ("jupyter_pipelines",)


@functools.lru_cache(maxsize=1)
def _packages() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def imported_modules(source: str) -> list[str]:
    """Top-level modules that ``source`` imports (absolute imports, anywhere in the code), in order."""
    found: list[str] = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top and top != "__future__" and top not in found:
                found.append(top)
    return found


def is_stdlib(module: str) -> bool:
    return module in sys.stdlib_module_names or module in sys.builtin_module_names


def distribution_for(module: str) -> str | None:
    """The distribution that provides an import name, or None when none installed here is known to."""
    if module in IMPORT_TO_DISTRIBUTION:
        return IMPORT_TO_DISTRIBUTION[module]
    candidates = _packages().get(module) or []
    if candidates:
        return sorted(candidates, key=str.lower)[0]
    return None


def protocol_distribution(protocol: str) -> str | None:
    """The distribution that implements an fsspec protocol (None: fsspec itself, or shipped in runtime/)."""
    if protocol in PROTOCOL_TO_DISTRIBUTION:
        return PROTOCOL_TO_DISTRIBUTION[protocol]
    try:
        import fsspec  # only for protocols not named in the table above

        top = fsspec.get_filesystem_class(protocol).__module__.split(".")[0]
    except (ImportError, ValueError):
        return None
    return None if top in ("fsspec", "jupyter_pipelines") else distribution_for(top)


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def pinned(distribution: str) -> str:
    """``name==version`` for the version installed here (what produced the engine's outputs); else ``name``."""
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return distribution
    if "+" in version or "dev" in version:
        return distribution  # a local or development build is not on a package index
    return f"{distribution}=={version}"


def requirements_text(protocols: Iterable[str], operation_sources: Mapping[str, str],
                      extra_modules: Mapping[str, Iterable[str]] = {}) -> tuple[str, list[str]]:
    """The text of requirements.txt and the notes (modules nobody here provides) for the README.

    ``operation_sources`` maps an operation key to its source; ``extra_modules`` maps a shipped runtime
    module (a filesystem implementation) to the modules it imports.
    """
    lines: dict[str, str] = {}  # distribution (lowercase) -> line
    why: dict[str, list[str]] = {}
    notes: list[str] = []

    def add(distribution: str, reason: str) -> None:
        key = distribution.lower()
        lines.setdefault(key, pinned(distribution))
        if reason not in why.setdefault(key, []):
            why[key].append(reason)

    add("fsspec", "runtime")
    for protocol in sorted(set(protocols)):
        distribution = protocol_distribution(protocol)
        if distribution:
            add(distribution, f"{protocol}:// storage")
    users: dict[str, list[str]] = {}
    for key, source in sorted(operation_sources.items()):
        for module in imported_modules(source):
            users.setdefault(module, []).append(key)
    for owner, modules in sorted(extra_modules.items()):
        for module in modules:
            users.setdefault(module, []).append(owner)
    for module in sorted(users):
        if is_stdlib(module) or module == "runtime":
            continue
        who = ", ".join(sorted(set(users[module])))
        if module in NOT_SHIPPED:
            notes.append(f"`{module}` is imported by {who}, but an export runs without it")
            continue
        distribution = distribution_for(module)
        if distribution:
            add(distribution, f"import {module}")
        elif _findable(module):
            notes.append(f"`{module}` (imported by {who}) is a local module, not an installed package: "
                         "copy it next to main.py")
        else:
            notes.append(f"`{module}` (imported by {who}) is not installed where this was exported: "
                         "add the package that provides it to requirements.txt")
    text = "# Install with: pip install -r requirements.txt (versions as where the pipeline was exported)\n"
    for key in sorted(lines):
        text += f"{lines[key]:<32} # {', '.join(why[key])}\n"
    for note in notes:
        text += f"# NOTE: {note.replace('`', '')}\n"
    return text, notes
