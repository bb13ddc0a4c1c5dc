"""The ASGI app: routes of the three protocols over one served state.

Routes (every answer is JSON, every error ``{"error", "error_code", "field", "request_id"}``):

- native: ``POST /predict`` (``?model=NAME`` when serving several), ``GET /status``,
  ``POST /feedback``, ``GET /metrics``;
- MLflow: ``POST /invocations``, ``GET /ping``, ``GET /health``;
- Open Inference Protocol v2: ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``,
  ``/v2/models/{name}[/versions/{v}]``, ``.../ready``, ``POST .../infer``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from assay.errors import RequestRejected
from assay.serving import _decode, _oip
from assay.serving._events import log_line
from assay.serving._front import (
    REQUEST_ID,
    Inference,
    InferenceFront,
    dumps,
    error_payload,
    match,
    read_body,
    request_id_of,
    route_path,
)
from assay.serving._model import Served, Slot
from assay.serving._options import ServeOptions
from assay.serving._state import ServerState

#: Who may call each route (RELIABILITY.md rule 6: every route declares its policy). The
#: inference server has no accounts: every route is ``public`` to whoever can reach the
#: address it binds (127.0.0.1 unless ``--host`` says otherwise); ``/openapi.json`` is
#: FastAPI's schema of these routes.
ROUTE_POLICIES: dict[str, str] = {path: "public" for path in (
    "/predict", "/invocations", "/feedback", "/status", "/metrics", "/ping", "/health", "/v2",
    "/v2/health/live", "/v2/health/ready", "/v2/models/{name}",
    "/v2/models/{name}/versions/{version}", "/v2/models/{name}/ready",
    "/v2/models/{name}/versions/{version}/ready", "/v2/models/{name}/infer",
    "/v2/models/{name}/versions/{version}/infer", "/openapi.json")}

def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json",
                    headers=headers)


def error_response(exc: RequestRejected, request_id: str) -> Response:
    status, body, headers = error_payload(exc, request_id)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _request_id(request: Request) -> str:
    return request_id_of(request.headers.get("x-request-id"))


def build(options: ServeOptions) -> Any:
    """The FastAPI app serving ``options.refs`` (loading starts with the app's lifespan, or at
    the first request when the app is mounted inside another)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    state = ServerState(options)

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        state.start()
        _watch_signals(state)
        yield
        state.stop()

    app = FastAPI(title="assay serve", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="Model inference: native, MLflow scoring and Open Inference "
                              "Protocol v2 routes.")
    app.state.assay = state

    inference = Inference(state)

    async def infer(request: Request) -> Response:
        """Inference (native ``/predict``, MLflow ``/invocations``, OIP ``.../infer``): the
        same :meth:`Inference.answer` that :class:`InferenceFront` calls for a POST."""
        route = match(route_path(request.scope))
        assert route is not None  # only the inference paths are routed here
        status, body, headers = await inference.answer(route, request.scope, request.receive)
        return Response(body, status_code=status, media_type="application/json",
                        headers=headers)

    def _health(ok: bool, detail: dict[str, Any] | None = None) -> Response:
        body = {"ready": ok, **(detail or {})}
        return _json(body, 200 if ok else 503)

    async def status(request: Request) -> Response:
        """Live, ready, draining, and each model: version, hash, why it is not ready."""
        state.start()
        return _json(state.status())

    async def live(request: Request) -> Response:
        """Liveness: the process answers."""
        state.start()
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        """Readiness: every model loaded and verified, and not shutting down."""
        state.start()
        if state.ready:
            return _health(True)
        reasons = {n: s.reason for n, s in state.slots.items() if s.current is None}
        return _health(False, {"draining": state.draining, "reasons": reasons})

    async def metrics(request: Request) -> Response:
        """Prometheus exposition."""
        body, content_type = state.metrics.exposition()
        return Response(body, media_type=content_type)

    async def server_metadata(request: Request) -> Response:
        """OIP server metadata."""
        from importlib.metadata import version

        return _json({"name": "assay", "version": version("assay"), "extensions": []})

    def _served_or_error(request: Request) -> tuple[Served | None, Response | None, Slot]:
        params = request.path_params
        request_id = _request_id(request)
        try:
            key, slot = state.slot(params["name"])
        except RequestRejected as exc:
            return None, error_response(exc, request_id), Slot("")
        served = slot.current
        version = params.get("version")
        if served is not None and version is not None and version != served.version:
            return None, error_response(RequestRejected(
                f"Model {key!r} version {version} is not served (serving {served.version})",
                status=404, field="version"), request_id), slot
        return served, None, slot

    async def model_metadata(request: Request) -> Response:
        """OIP model metadata: name, versions, platform, input and output tensors."""
        served, failure, slot = _served_or_error(request)
        if failure is not None:
            return failure
        if served is None:
            return error_response(RequestRejected(
                f"Model {request.path_params['name']!r} is not ready: {slot.reason}",
                status=503), _request_id(request))
        model = served.model
        return _json({
            "name": served.name,
            "versions": [served.version],
            "platform": f"assay-{model.package.flavor}",
            "inputs": [{"name": c.name, "datatype": _oip.datatype(c.dtype), "shape": [-1]}
                       for c in model.signature.inputs],
            "outputs": _oip.output_specs(model.task == "classification", model.classes),
        })

    async def model_ready(request: Request) -> Response:
        """OIP model readiness."""
        served, failure, slot = _served_or_error(request)
        if failure is not None:
            return failure
        ok = served is not None and not state.draining
        return _health(ok, {"name": request.path_params["name"]}
                       | ({} if ok else {"reason": slot.reason or "shutting down"}))

    async def feedback(request: Request) -> Response:
        """Ground-truth labels by request id: ``{"request_id": ..., "label": ...}`` or
        ``{"labels": [{"request_id": ..., "label": ...}, ...]}`` (``model`` when serving
        several). Stored in the prediction log, and scored against this process's recent
        one-row answers (``scored``: how many were)."""
        request_id = _request_id(request)
        try:
            _decode.require_json(request.headers.get("content-type"))
            doc = _decode.parse_json(await read_body(
                request.receive, request.headers.get("content-length"), options.max_body_bytes))
            labels, name = _feedback_labels(doc, options.max_rows)
            key, slot = state.slot(name)
            model = slot.current.name if slot.current else key
            if state.log is None:
                raise RequestRejected("The prediction log is off (--log-sample 0); feedback "
                                      "is not stored", status=404)
            if not state.log.feedback(model, labels):
                raise RequestRejected("The prediction log is full; retry shortly", status=503)
        except RequestRejected as exc:
            return error_response(exc, request_id)
        scored = 0
        for rid, label in labels:  # live quality: scored against the answers remembered
            scores = state.answers.score(key, rid, label)
            state.metrics.observe_scores(key, scores)
            scored += scores is not None
        return _json({"accepted": len(labels), "scored": scored, "request_id": request_id},
                     202)

    endpoints: dict[str, tuple[str, Callable[[Request], Awaitable[Response]]]] = {
        "/predict": ("POST", infer),
        "/invocations": ("POST", infer),
        "/feedback": ("POST", feedback),
        "/status": ("GET", status),
        "/metrics": ("GET", metrics),
        "/ping": ("GET", ready),
        "/health": ("GET", ready),
        "/v2": ("GET", server_metadata),
        "/v2/health/live": ("GET", live),
        "/v2/health/ready": ("GET", ready),
        "/v2/models/{name}": ("GET", model_metadata),
        "/v2/models/{name}/versions/{version}": ("GET", model_metadata),
        "/v2/models/{name}/ready": ("GET", model_ready),
        "/v2/models/{name}/versions/{version}/ready": ("GET", model_ready),
        "/v2/models/{name}/infer": ("POST", infer),
        "/v2/models/{name}/versions/{version}/infer": ("POST", infer),
    }
    for path, (method, endpoint) in endpoints.items():
        if path not in ROUTE_POLICIES:  # default-deny: a route without a policy is a bug
            raise AssertionError(f"route {path} declares no policy in ROUTE_POLICIES")
        app.add_api_route(path, endpoint, methods=[method], response_model=None)
    _install_errors(app)
    app.add_middleware(InferenceFront, inference=inference)
    return app


def _watch_signals(state: ServerState) -> None:
    """SIGHUP checks the followed aliases now; SIGTERM and SIGINT fail readiness at once, then
    go on to the server's own handler (uvicorn's: stop accepting, drain, exit)."""
    import signal

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, state.check_now)
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(number: int, frame: Any, previous: Any = previous) -> None:
                if not state.draining:
                    state.draining = True
                    state.metrics.ready.set(0)
                    log_line({"event": "serving.draining", "signal": number,
                               "in_flight": state.in_flight})
                previous(number, frame)

            signal.signal(sig, handler)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        pass  # not the main thread (an app mounted elsewhere, a test client)


def _feedback_labels(doc: Any, max_rows: int) -> tuple[list[tuple[str, str]], str | None]:
    if not isinstance(doc, dict):
        raise RequestRejected('Feedback is {"request_id": ..., "label": ...} or {"labels": '
                              '[...]}')
    name = doc.get("model")
    if name is not None and not isinstance(name, str):
        raise RequestRejected("model must be a string", field="model")
    items = doc.get("labels") if "labels" in doc else [
        {k: v for k, v in doc.items() if k != "model"}]
    if not isinstance(items, list) or not items:
        raise RequestRejected("labels must be a non-empty list", field="labels")
    if len(items) > max_rows:
        raise RequestRejected(f"{len(items)} labels; at most {max_rows} per request",
                              status=413, field="labels")
    labels = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"request_id", "label"}:
            raise RequestRejected(f"labels[{i}] must be {{\"request_id\": ..., \"label\": "
                                  "...}", field="labels")
        rid, label = item["request_id"], item["label"]
        if not isinstance(rid, str) or not REQUEST_ID.match(rid):
            raise RequestRejected(f"labels[{i}].request_id is not a request id",
                                  field="request_id")
        if not (label is None or isinstance(label, (str, int, float, bool))):
            raise RequestRejected(f"labels[{i}].label must be a number, string or boolean",
                                  field="label")
        try:
            labels.append((rid, json.dumps(label, allow_nan=False)))
        except ValueError:
            raise RequestRejected(f"labels[{i}].label is not finite", field="label") from None
    return labels, name


def _install_errors(app: Any) -> None:
    """Framework-level errors (unknown route, wrong method, anything unexpected) as JSON."""
    from starlette.exceptions import HTTPException

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: "No such route", 405: "Method not allowed on this route"}.get(
            exc.status_code, str(exc.detail))
        return error_response(RequestRejected(message, status=exc.status_code),
                              _request_id(request))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log_line({"event": "serving.internal_error", "error": repr(exc)[:300]})
        return error_response(RequestRejected("Internal error", status=500),
                              _request_id(request))

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: http_error, Exception: unexpected}
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)
