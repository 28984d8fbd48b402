"""Another web site as the attacker, in Debian's headless Chromium: a page served from another origin on
127.0.0.1 auto-submits the app's remove form (with delete_files) and posts an upload with fetch(no-cors),
in a browser that has just used the app. The file stays on disk, its point stays, nothing is planted."""

import base64
import http.server
import io
import threading
import time

import httpx
import pytest
from PIL import Image

from src.indexing import index_folder
from src.store import open_store
from tests.app_server import served

pytestmark = [pytest.mark.requires("chromium"), pytest.mark.slow]

ATTACK = """<!doctype html><html><body>
<form id="f" method="post" action="{app}/view/cars/a.jpg/remove">
  <input name="delete_files" value="1"></form>
<script>
  const data = new FormData();
  const bytes = Uint8Array.from(atob("{png}"), c => c.charCodeAt(0));
  data.append("files", new Blob([bytes], {{type: "image/png"}}), "planted.png");
  fetch("{app}/api/images", {{method: "POST", mode: "no-cors", body: data}}).finally(() => {{
    document.title = "sent";
    document.getElementById("f").submit();
  }});
</script></body></html>"""


@pytest.fixture
def attacker_site():
    """A page server on another port of 127.0.0.1: another origin."""
    pages = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages["attack"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", pages
    server.shutdown()


def test_a_page_of_another_origin_cannot_remove_files_or_plant_uploads(settings, embedder, attacker_site, browser):
    with open_store(settings) as store:
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    site, pages = attacker_site
    with served(settings) as (app, _process):
        picture = io.BytesIO()
        Image.new("RGB", (64, 48), (10, 200, 90)).save(picture, "PNG")  # a real image: the old code indexed it
        pages["attack"] = ATTACK.format(app=app, png=base64.b64encode(picture.getvalue()).decode())
        page = browser.new_page()
        page.goto(app + "/view/cars/a.jpg")  # the person uses the app: its cookies are in this browser
        page.goto(site + "/attack")
        page.wait_for_url(app + "/**", timeout=30_000)  # the form was submitted: the answer is the app's
        page.wait_for_load_state()
        time.sleep(1)  # let any upload the fetch started finish
        answer = page.content()
        page.close()
        assert "another web site" in answer
        assert (settings.dataset_dir / "cars/a.jpg").exists()
        assert not (settings.dataset_dir / "uploads").exists()
        found = httpx.get(app + "/api/images/cars/a.jpg", timeout=30)
        assert found.status_code == 200
        assert httpx.get(app + "/healthz", timeout=30).json()["store"]["points"] == 8
