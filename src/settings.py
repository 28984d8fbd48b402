"""All settings in one place: one declaration each (type, default, environment name, flag, help).

The environment name of a setting is its field name in upper case; `flag` is its command-line flag, or
None where a flag would be wrong (a secret on the command line ends up in the shell's history) or not
worth having. src/cli_options.py builds the flags from these declarations, and tests/unit/test_settings.py
checks the README's settings tables against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_MODEL = "openai/clip-vit-base-patch32"

Precision = Literal["auto", "fp32", "bf16", "int8"]
Quantization = Literal["none", "scalar", "binary"]
EmbeddedEngine = Literal["edge", "qdrant-client"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
OCR_ENGINE_NAMES = ("ppocr", "tesseract")  # src/ocr/engines.py builds each


def parse_engines(text: str | None) -> tuple[str, ...]:
    """"ppocr,tesseract" -> ("ppocr", "tesseract"); "none" or "" -> (); raises ValueError naming the choices."""
    names = [n.strip().lower() for n in (text or "").replace("+", ",").split(",") if n.strip()]
    if names in ([], ["none"]):
        return ()
    if any(n not in OCR_ENGINE_NAMES for n in names):
        raise ValueError(f"must be {', '.join(OCR_ENGINE_NAMES)} (comma-separated, most trusted first) or none")
    return tuple(dict.fromkeys(names))


class SettingsError(ValueError):
    """A setting has a value the program cannot use; the message names the variable."""


def setting(default: Any, help: str, flag: str | None, **bounds: Any) -> Any:
    """A setting's declaration: its default, its help text, its flag (None: environment only)."""
    return Field(default, description=help, json_schema_extra={"flag": flag}, **bounds)


# Set while Settings.load reads a mapping given in place of os.environ (tests, tools).
_READ_OS_ENVIRON: ContextVar[bool] = ContextVar("read_os_environ", default=True)

PositiveInt = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, case_sensitive=False, env_ignore_empty=True, extra="forbid")

    clip_model: str = setting(
        DEFAULT_MODEL, "Hugging Face model id, or a local folder with a saved CLIP model and processor", "--model")
    dataset_dir: Path = setting(Path("dataset"), "the image folder to index and serve", "--images")
    qdrant_path: Path = setting(Path("qdrant_data"), "folder of the embedded Qdrant store", "--qdrant-path")
    qdrant_url: str | None = setting(
        None, "a Qdrant server (Docker or Cloud); when set, used instead of the embedded store", "--qdrant-url")
    qdrant_api_key: SecretStr | None = setting(None, "API key for QDRANT_URL (never logged or shown)", None)
    collection: str = setting("ads", "collection name", "--collection", min_length=1)
    qdrant_timeout: PositiveInt = setting(
        10, "seconds a Qdrant server may take to answer before it counts as down", None)
    embedded_engine: EmbeddedEngine = setting(
        "edge", "the embedded store's engine: edge (Qdrant Edge, Qdrant's own engine in-process, HNSW) or "
        "qdrant-client (its local mode: pure Python, brute force)", None)
    qdrant_shards: PositiveInt = setting(1, "shards of a server collection, spread over the cluster's nodes", None)
    qdrant_replicas: PositiveInt = setting(1, "copies of each shard on a server or cluster", None)
    qdrant_quantization: Quantization = setting(
        "scalar", "quantized copies of the dense vectors in RAM for collections made from now on (a server or "
        "Qdrant Edge), searched first and rescored with the originals: scalar (int8), binary, or none; a "
        "collection keeps the one it was made with", None)
    qdrant_on_disk: bool = setting(
        False, "keep the original dense vectors on disk (a server or Qdrant Edge), the quantized ones in RAM", None)
    device: str = setting("auto", "auto, cpu, cuda (or cuda:N) or mps; auto picks cuda, then mps, then cpu",
                          "--device", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")
    precision: Precision = setting(
        "auto", "fp32, bf16, int8, or auto: the fastest that stays faithful (src/precision.py)", "--precision")
    batch_size: PositiveInt = setting(32, "images per model batch", "--batch-size")
    collapse_cosine: Fraction = setting(
        0.97, "results whose image vectors are this similar to a better result fold into it", None)
    cache_dir: Path = setting(Path(".cache"), "thumbnail cache", None)
    ocr: bool = setting(True, "read the text in the images while indexing", "--no-ocr")
    ocr_langs: str = setting("eng", "tesseract languages, +-separated, e.g. eng+deu", "--ocr-langs",
                             pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")
    ocr_engines: str = setting(
        "ppocr,tesseract", "OCR engines, most trusted first: ppocr,tesseract, ppocr, tesseract or none",
        "--ocr-engines")
    text_dir: Path = setting(Path("dataset_text"), "OCR cache folder", None)
    tesseract_cmd: str = setting("tesseract", "the tesseract binary, if it is not on PATH", None, min_length=1)
    # Running on a network (README "Running on a network"): who may change, who may search, what is read.
    admin_token: SecretStr | None = setting(
        None, "the token uploads, removal and deletion need (sign-in form or Authorization: Bearer); beyond "
        "loopback, changes are off without it. Never logged or shown", None)
    read_token: SecretStr | None = setting(
        None, "when set, searching needs this token (or ADMIN_TOKEN) too; /healthz stays open", None)
    allowed_hosts: str = setting(
        "", "host names the server answers to besides localhost, 127.0.0.1, ::1 and --host, comma-separated "
        "(the name a reverse proxy forwards); others get 400", None)
    max_body_mb: PositiveInt = setting(100, "largest upload request, in MB, cut off as it streams (413)", None)
    max_query_body_mb: PositiveInt = setting(
        45, "largest search request with an image (multipart or base64 JSON), in MB (413)", None)
    uploads_per_client: PositiveInt = setting(2, "uploads one client address may run at once (429 beyond)", None)
    max_connections: PositiveInt = setting(
        200, "connections open at once; beyond, a new one gets 503 with Retry-After at once", None)
    max_header_kb: PositiveInt = setting(32, "largest request line and headers together, in KB (431)", None)
    max_headers: PositiveInt = setting(100, "most headers one request may have (431)", None)
    idle_timeout: PositiveInt = setting(
        10, "seconds a connection may stay idle, or take to send a request's line and headers, before it is "
        "closed (408 if part of them came)", None)
    min_body_rate_kb: PositiveInt = setting(
        1, "slowest a request body may arrive, in KB/s, judged over each IDLE_TIMEOUT seconds (408)", None)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags, then the environment; no .env file or secrets folder is read behind the user's back.
        return (init_settings, env_settings) if _READ_OS_ENVIRON.get() else (init_settings,)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the environment (os.environ, or the mapping given), then the flags given
        (None means "not given"). Raises SettingsError with one line naming the variable."""
        given = {name: value for name, value in overrides.items() if value is not None}
        try:
            if environ is None:
                return cls(**given)  # pydantic-settings reads os.environ
            names = {name.upper(): name for name in cls.model_fields}
            from_env = {names[key.upper()]: value for key, value in environ.items()
                        if key.upper() in names and str(value).strip()}
            token = _READ_OS_ENVIRON.set(False)
            try:
                return cls(**{**from_env, **given})
            finally:
                _READ_OS_ENVIRON.reset(token)
        except ValidationError as exc:
            raise SettingsError(_first_problem(exc)) from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed, checked like any other."""
        return type(self).load(environ={}, **{**self.model_dump(), **changes})

    @field_validator("ocr_engines")
    @classmethod
    def _known_engines(cls, value: str) -> str:
        return ",".join(parse_engines(value)) or "none"

    @property
    def engines(self) -> tuple[str, ...]:
        """The OCR engines to read with; () when OCR is off (OCR=off or OCR_ENGINES=none)."""
        return parse_engines(self.ocr_engines) if self.ocr else ()

    @property
    def uses_server(self) -> bool:
        return bool(self.qdrant_url)

    @property
    def admin_secret(self) -> str | None:
        return self.admin_token.get_secret_value() if self.admin_token else None

    @property
    def read_secret(self) -> str | None:
        return self.read_token.get_secret_value() if self.read_token else None

    @property
    def api_key(self) -> str | None:
        return self.qdrant_api_key.get_secret_value() if self.qdrant_api_key else None

    def describe_store(self) -> str:
        """Where the vectors live, for messages and /healthz (never the API key)."""
        if self.uses_server:
            return f"Qdrant server at {self.qdrant_url}"
        engine = "Qdrant Edge" if self.embedded_engine == "edge" else "qdrant-client local mode"
        return f"embedded Qdrant ({engine}) at {self.qdrant_path}"

    def store_remedy(self) -> str:
        """What to do when the store cannot be reached or opened: the next step of its error message."""
        if self.uses_server:
            return (f"start the Qdrant server at {self.qdrant_url} (`docker compose up -d qdrant`) or check that "
                    "this machine can reach it, or unset QDRANT_URL to use the embedded store")
        return (f"check that {self.qdrant_path} is a readable folder on a disk with space left, then run "
                "`python main.py index --check`")


def env_name(field: str) -> str:
    return field.upper()


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    if field not in Settings.model_fields:
        return f"{env_name(field)} is not a setting"
    value = error.get("input")
    choices = get_args(Settings.model_fields[field].annotation)
    if error["type"] == "literal_error" and choices:
        reason = f"must be one of {', '.join(choices)}"
    elif error["type"] == "bool_parsing":
        reason = "must be on or off"
    elif error["type"] in ("int_parsing", "int_from_float"):
        reason = "must be a whole number"
    elif error["type"] == "float_parsing":
        reason = "must be a number"
    elif error["type"] == "greater_than_equal":
        reason = f"must be at least {error['ctx']['ge']}"
    elif error["type"] == "less_than_equal":
        reason = f"must be at most {error['ctx']['le']}"
    elif error["type"] == "string_pattern_mismatch" and field == "device":
        reason = "must be auto, cpu, cuda, cuda:N or mps"
    else:
        reason = error["msg"].replace("Input should be", "must be").replace("Value error, ", "")
    return f"{env_name(field)} {reason}, not {str(value)[:60]!r}"
