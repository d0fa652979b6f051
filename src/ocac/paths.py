"""Where ocac's files live: flag > environment variable > platformdirs default."""

from __future__ import annotations

from pathlib import Path

ENV_CONFIG = "OCAC_CONFIG"
ENV_STORE = "OCAC_STORE"
ENV_LOCK_TIMEOUT = "OCAC_LOCK_TIMEOUT"
ENV_DEBUG = "OCAC_DEBUG"
ENV_TZ = "OCAC_TZ"
ENV_POSTGRESQL_DRIVER = "OCAC_POSTGRESQL_DRIVER"
DEFAULT_LOCK_TIMEOUT = 10.0


def default_config_path() -> Path:
    """`user_config_dir("ocac")/config.toml`."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("ocac")) / "config.toml"


def default_store_path() -> Path:
    """`user_data_dir("ocac")/conversations.json`."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("ocac")) / "conversations.json"
