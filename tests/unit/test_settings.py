from pathlib import Path

import pytest

from src.settings import DEFAULT_MODEL, Settings, SettingsError


def test_defaults_without_environment():
    s = Settings.load(environ={})
    assert s.clip_model == DEFAULT_MODEL == "openai/clip-vit-base-patch32"
    assert s.dataset_dir == Path("dataset") and s.qdrant_path == Path("qdrant_data")
    assert s.qdrant_url is None and not s.uses_server
    assert s.device == "auto" and s.batch_size == 32


def test_environment_then_flags():
    env = {"CLIP_MODEL": "models/clip", "BATCH_SIZE": "8", "QDRANT_URL": "http://localhost:6333", "COLLECTION": "x"}
    s = Settings.load(environ=env, batch_size=4, collection=None)
    assert s.clip_model == "models/clip"
    assert s.batch_size == 4  # the flag wins
    assert s.collection == "x"  # an absent flag leaves the environment's value
    assert s.uses_server and s.describe_store() == "Qdrant server at http://localhost:6333"


@pytest.mark.parametrize("env", [{"BATCH_SIZE": "many"}, {"BATCH_SIZE": "0"}, {"DEVICE": "tpu"}])
def test_bad_values_are_named(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.load(environ=env)


def test_api_key_never_in_repr_or_description():
    s = Settings.load(environ={"QDRANT_URL": "https://cloud.example", "QDRANT_API_KEY": "sekrit-key"})
    assert s.api_key == "sekrit-key"
    assert "sekrit" not in repr(s) and "sekrit" not in s.describe_store()


def test_empty_values_count_as_unset_and_env_names_are_case_blind():
    s = Settings.load(environ={"batch_size": "5", "COLLECTION": "  ", "OCR": "off"})
    assert s.batch_size == 5 and s.collection == "ads" and s.ocr is False


def test_os_environ_is_read_only_without_a_mapping(monkeypatch):
    monkeypatch.setenv("BATCH_SIZE", "7")
    assert Settings.load().batch_size == 7
    assert Settings.load(environ={}).batch_size == 32  # a mapping given replaces os.environ entirely
    assert Settings.load(batch_size=3).batch_size == 3  # the flag wins over the environment


@pytest.mark.parametrize("env, message", [
    ({"BATCH_SIZE": "many"}, "BATCH_SIZE must be a whole number, not 'many'"),
    ({"BATCH_SIZE": "0"}, "BATCH_SIZE must be at least 1, not '0'"),
    ({"COLLAPSE_COSINE": "1.5"}, "COLLAPSE_COSINE must be at most 1.0, not '1.5'"),
    ({"PRECISION": "fp8"}, "PRECISION must be one of auto, fp32, bf16, int8, not 'fp8'"),
    ({"OCR": "sometimes"}, "OCR must be on or off, not 'sometimes'"),
    ({"DEVICE": "tpu"}, "DEVICE must be auto, cpu, cuda, cuda:N or mps, not 'tpu'"),
])
def test_a_bad_value_gives_one_line_naming_the_variable(env, message):
    with pytest.raises(SettingsError) as caught:
        Settings.load(environ=env)
    assert str(caught.value) == message


def test_replace_checks_the_new_values_and_keeps_the_secret():
    s = Settings.load(environ={"QDRANT_API_KEY": "sekrit-key"})
    assert s.replace(batch_size=4).batch_size == 4 and s.replace(batch_size=4).api_key == "sekrit-key"
    with pytest.raises(SettingsError, match="BATCH_SIZE"):
        s.replace(batch_size=0)


def test_every_setting_declares_its_flag_and_has_its_readme_row():
    """A setting added without its flag declaration (a flag, or None for environment only) or without its
    row in the README's settings tables fails here; so does a row for a setting that does not exist."""
    import re

    from src.cli_options import flag_of
    from tests.helpers import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([A-Z][A-Z0-9_]+)` \|([^|]*)\|", readme, re.M)}
    for field, info in Settings.model_fields.items():
        assert isinstance(info.json_schema_extra, dict) and "flag" in info.json_schema_extra, \
            f"{field}: declare its flag (or flag=None) with setting()"
        assert info.description, f"{field}: give it a help text"
        name = field.upper()
        assert name in rows, f"README.md has no settings-table row for {name}"
        flag = flag_of(field)
        cell = rows[name].strip()
        if flag:
            assert cell == f"`{flag}`", f"README's row for {name} names flag {cell}, the declaration {flag}"
        else:
            assert cell in ("—", "") or not cell.startswith("`--"), f"README names a flag for {name}, which has none"
    unknown = set(rows) - {f.upper() for f in Settings.model_fields}
    assert not unknown, f"README lists settings that do not exist: {sorted(unknown)}"


def test_the_command_line_has_a_flag_for_each_declared_one():
    from src.cli import build_parser
    from src.cli_options import flag_of

    index = build_parser()._subparsers._group_actions[0].choices["index"]  # type: ignore[union-attr]
    flags = {option for action in index._actions for option in action.option_strings}
    declared = {flag_of(f) for f in Settings.model_fields} - {None}
    assert declared <= flags
    args = build_parser().parse_args(["index", "--no-ocr", "--batch-size", "4", "--images", "x"])
    from src.cli_options import settings_from

    s = settings_from(args)
    assert s.ocr is False and s.batch_size == 4 and s.dataset_dir == Path("x")
