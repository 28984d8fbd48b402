"""Schemathesis against the app's own OpenAPI (/openapi.json), in-process over ASGI, on a real indexed
embedded Qdrant: no operation may answer 5xx, nor answer outside what the schema declares (status codes,
content types, the error JSON's shape, headers such as 405's Allow), and schema-violating requests are
rejected."""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
)

from src.indexing import index_folder
from src.settings import Settings
from src.store import open_store
from src.web import create_app
from tests.helpers import make_image

EXAMPLES = 30  # per operation and phase, so the run stays bounded in CI

# /openapi.json as a bare app serves it (nothing loaded, no lifespan: the schema does not depend on the
# settings); the requests go to the indexed app of the fixture below.
schema = schemathesis.openapi.from_dict(
    TestClient(create_app(Settings.load(environ={}))).get("/openapi.json").json(),
    # Deterministic generation with a fixed seed: the same cases on every run, so CI is stable.
    config=schemathesis.Config.from_dict(
        {"seed": 9, "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"}}
    ),
)

# Everywhere: the search fields are strings on purpose (a bad k or min_score gets the app's own 422 with a
# message), and whether a request can be served depends on content no schema states: an image file that
# decodes, an id that is indexed, a query with a positive part. So schema-valid is not enough to be accepted.
NOT_CHECKED = [positive_data_acceptance]
NOT_CHECKED_ON = {
    # Where the body is files: any bytes are a valid file, but schemathesis "negates" a file part by sending
    # a number's digits as its content and expects a rejection. No 5xx and documented answers still hold;
    # tests/test_http_hardening.py covers the upload limits.
    ("POST", "/index"): [negative_data_rejection],
    ("POST", "/api/search"): [negative_data_rejection],
    ("POST", "/api/images"): [negative_data_rejection],
    ("POST", "/upload"): [negative_data_rejection],
    # /view/a.jpg/remove is also /view/{path} with path "a.jpg/remove", so its Allow rightly lists GET beside
    # POST, which the schema's templates cannot say.
    ("POST", "/view/{path}/remove"): [allow_header_conformance],
}


INDEXED = ["cars/a.jpg", "food/b.png", "c.gif", "<b>x</b> name.png"]


@schema.hook("before_generate_path_parameters")
def indexed_paths_too(context, strategy):
    """Random paths alone name no file: the image routes' found branches would go untried. Only the
    routes whose parameter is a path get them (/query-images/{key} takes a content key)."""
    if "path" not in {parameter.name for parameter in context.operation.path_parameters}:
        return strategy
    return strategy | st.sampled_from([{"path": path} for path in INDEXED])


@pytest.fixture  # afresh for each operation: DELETE must not take the images the file routes are tried on
def app(tmp_path, tiny_clip, embedder):
    settings = Settings.load(environ={}, clip_model=str(tiny_clip), dataset_dir=tmp_path / "images",
                             qdrant_path=tmp_path / "qdrant", cache_dir=tmp_path / "cache", text_dir=tmp_path / "text",
                             admin_token="fuzz-admin-token")  # changes without it: 401, as the schema says
    for seed, name in enumerate(INDEXED):
        make_image(settings.dataset_dir / name, seed)
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    app = create_app(settings, embedder)
    yield app
    app.state.backend.close()


@pytest.mark.slow
@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one app per operation, on purpose
def test_no_server_error_and_responses_match_the_schema(case, app):
    operation = (case.operation.method.upper(), case.operation.path)
    case.call_and_validate(app=app, excluded_checks=NOT_CHECKED + NOT_CHECKED_ON.get(operation, []))
