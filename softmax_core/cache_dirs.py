"""Where the dashboard keeps what it downloads and trains: one per-user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

APP_FOLDER = "softmax-dashboard"


def user_cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/softmax-dashboard/<parts>``, else ``~/.cache/softmax-dashboard/<parts>``."""
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(cache).joinpath(APP_FOLDER, *parts)


def folder_from_env(env_var: str, *default_parts: str) -> Path:
    """``$env_var`` if it is set and not blank, else :func:`user_cache_dir` of ``default_parts``."""
    value = os.environ.get(env_var, "").strip()
    return Path(value).expanduser() if value else user_cache_dir(*default_parts)
