"""Command-line flags made from the settings' declarations, shared by `main.py` and `python -m evaluation`."""

from __future__ import annotations

import argparse
from typing import Any, get_args

from src.settings import Settings, env_name


def flag_of(field: str) -> str | None:
    extra = Settings.model_fields[field].json_schema_extra
    return extra.get("flag") if isinstance(extra, dict) else None  # type: ignore[return-value]


def add_setting_flags(parser: argparse.ArgumentParser, fields: list[str] | None = None) -> None:
    """One flag per setting that declares one (all of them, or the fields named). dest is the field name,
    default None, so that settings_from() can tell a flag given from one left out."""
    for field in fields or list(Settings.model_fields):
        flag = flag_of(field)
        if flag is None:
            continue
        info = Settings.model_fields[field]
        help_text = f"{info.description} ({env_name(field)})"
        if info.annotation is bool and flag.startswith("--no-"):
            parser.add_argument(flag, dest=field, action="store_const", const=False, default=None,
                                help=f"turn off: {info.description} ({env_name(field)}=off)")
        elif info.annotation is bool:
            parser.add_argument(flag, dest=field, action="store_const", const=True, default=None, help=help_text)
        else:
            choices = get_args(info.annotation)
            listed = bool(choices) and all(isinstance(c, str) for c in choices)  # a Literal's choices
            kwargs: dict[str, Any] = {"choices": choices} if listed else {}
            parser.add_argument(flag, dest=field, default=None, help=help_text, **kwargs)


def model_and_store_options() -> argparse.ArgumentParser:
    """Flags naming the images, the model and the store (for the evaluation, which reads the text but never
    runs OCR or batches images)."""
    options = argparse.ArgumentParser(add_help=False)
    add_setting_flags(options, ["dataset_dir", "clip_model", "qdrant_path", "qdrant_url", "collection", "device",
                                "precision"])
    return options


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags given; raises SettingsError."""
    return Settings.load(**{field: getattr(args, field, None) for field in Settings.model_fields})
