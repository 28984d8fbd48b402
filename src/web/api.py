"""The JSON API: search (by text, indexed image, image file, or a combined query), images in and out,
health. Errors come back in the one shape of errors.py."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from src.store import StoreUnavailable
from src.web import services
from src.web.backend import Backend, get_backend
from src.web.cpu_pool import CpuPool, get_cpu
from src.web.errors import api_errors
from src.web.forms import CombinedQuery, SearchForm, read_query_image, read_uploads, search_form
from src.web.rendering import api_results

router = APIRouter()


@router.get("/api/search", summary="Search by text and/or an indexed image (like=point id); JSON",
            responses=api_errors(422, 503))
async def api_search(form: SearchForm = Depends(search_form), backend: Backend = Depends(get_backend)):
    if services.answers_at_once(backend, form):  # a repeated query: a store query, no encoding
        return api_results(form, services.run_search(backend, form))
    return await run_in_threadpool(lambda: api_results(form, services.run_search(backend, form)))


@router.post("/api/search", summary="Search with an image file, plus the same fields as GET",
             responses=api_errors(400, 413, 422, 503))
async def api_image_search(form: SearchForm = Depends(search_form), image: UploadFile | None = None,
                           backend: Backend = Depends(get_backend), cpu: CpuPool = Depends(get_cpu)):
    query_image = await read_query_image(image)
    return await cpu.run(lambda: api_results(form, services.run_search(backend, form, query_image)))


@router.post("/api/query", summary="A combined query: weighted texts, images and indexed images; JSON in and out",
             responses=api_errors(400, 413, 422, 503))
async def api_query(body: CombinedQuery, backend: Backend = Depends(get_backend), cpu: CpuPool = Depends(get_cpu)):
    return await cpu.run(combined_query, body, backend)


def combined_query(body: CombinedQuery, backend: Backend) -> JSONResponse:
    form = body.form()
    parts = [services.query_part(backend, part) for part in body.parts]
    return api_results(form, services.run_search(backend, form, parts=parts))


@router.post("/api/images", summary="Add images: each is checked, saved into the dataset folder and indexed",
             responses=api_errors(400, 401, 403, 413, 422, 429, 503, 507))
async def api_add_images(request: Request, files: list[UploadFile], backend: Backend = Depends(get_backend),
                         cpu: CpuPool = Depends(get_cpu)):
    outcomes = await cpu.run(lambda: backend.add_images(read_uploads(request, files)))
    return {"outcomes": [asdict(o) for o in outcomes]}


@router.get("/api/images/{path:path}", summary="One indexed image: details, OCR text and nearest neighbours",
            responses=api_errors(404, 503))
def api_image(path: str, backend: Backend = Depends(get_backend)):
    hit = services.indexed(backend, path)
    neighbours = [{"path": r.path, "score": r.score, "id": r.id} for r in services.neighbours(backend, hit.id)]
    return {"id": hit.id, **hit.payload, "neighbours": neighbours}


@router.delete("/api/images/{path:path}", summary="Remove an image from the index, and its files with delete_files",
               responses=api_errors(401, 403, 404, 422, 503))
def api_remove(path: str, delete_files: bool = False, backend: Backend = Depends(get_backend)):
    done = services.remove(backend, path, delete_files)
    return {"removed": path, "deleted_files": done.deleted,
            "kept_files": [{"path": name, "reason": reason} for name, reason in done.kept]}


@router.get("/healthz", summary="Model, store and point count",
            responses={503: {"description": "The store cannot be reached: the same fields, reachable false"}})
def healthz(backend: Backend = Depends(get_backend)):
    store_info: dict[str, object] = {"location": backend.settings.describe_store(),
                                     "collection": backend.settings.collection}
    try:
        store_info |= {"reachable": True, "points": backend.store().count()}
    except StoreUnavailable as exc:
        backend.forget_store()
        store_info |= {"reachable": False, "error": str(exc)}
    model_info = {
        "id": backend.settings.clip_model,
        "loaded": backend.embedder.loaded,
        "device": backend.embedder.device,
        "precision": backend.embedder.precision.precision if backend.embedder.precision else None,
        "error": backend.model_error,
        "search": "words in the ads only" if backend.model_error else "picture and text",
    }
    healthy = store_info["reachable"] and not backend.model_error
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "model": model_info, "store": store_info,
         "indexing": backend.indexing},
        status_code=200 if store_info["reachable"] else 503,
    )
