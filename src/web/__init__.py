"""The web layer: the FastAPI app, its pages and its JSON API. Nothing below it imports it.

    app.py        create_app: the app, its lifespan, middleware and routers
    backend.py    the model and the store behind the app
    middleware.py security headers on every response
    errors.py     the one error shape of the API, the error page elsewhere
    forms.py      the request fields and their validation
    services.py   what the routes ask of the layers below (search, look-alikes, removal)
    rendering.py  templates and the responses built from them
    pages.py      the HTML pages
    api.py        the JSON API
"""

from src.web.app import create_app
from src.web.middleware import SECURITY_HEADERS

__all__ = ["SECURITY_HEADERS", "create_app"]
