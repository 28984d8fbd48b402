"""adsearch entry point.

    python main.py index      # embed the image folder into Qdrant
    python main.py serve      # serve http://127.0.0.1:8000/index
    python main.py run        # both
    uvicorn main:app          # the same app, configured from the environment
"""

import sys

from src.cli import main


def __getattr__(name: str):
    # `uvicorn main:app` builds the app on first access, so the CLI never pays for it.
    if name == "app":
        from src.web import create_app

        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
