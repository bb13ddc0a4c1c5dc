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
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from assay.errors import RequestRejected
from assay.serving import _decode, _oip
from assay.serving._batcher import Outcome
from assay.serving._model import Served, Slot
from assay.serving._options import ServeOptions
from assay.serving._state import ServerState, log_line

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 413: "PAYLOAD_TOO_LARGE",
          415: "UNSUPPORTED_MEDIA_TYPE", 422: "INVALID_PARAMETER_VALUE",
          503: "SERVICE_UNAVAILABLE", 504: "TIMEOUT", 500: "INTERNAL_ERROR"}

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
    try:
        text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a model answered NaN or infinity: JSON has no such number, null
        text = json.dumps(_finite(data), separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if data - data == 0.0 else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_finite(value) for value in data]
    return data


def error_response(exc: RequestRejected, request_id: str) -> Response:
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    return _json({"error": exc.message, "error_code": _CODES.get(exc.status, "ERROR"),
                  "field": exc.field, "request_id": request_id}, exc.status, headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes (413 past it, before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestRejected("Content-Length is not a number", status=400)
        if int(declared) > limit:
            raise RequestRejected(f"The body has {declared} bytes; this server takes at most "
                                  f"{limit} (--max-body-bytes)", status=413)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejected(f"The body is larger than {limit} bytes (--max-body-bytes)",
                                  status=413)
        chunks.append(chunk)
    return b"".join(chunks)


Decoder = Callable[[bytes, str | None, Served], tuple[dict[str, list[Any]], Any]]
Renderer = Callable[[Outcome, str, Any], dict[str, Any]]


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id")
    if given and _REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


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

    async def infer(request: Request, route: str, name: str | None, decode: Decoder,
                    render: Renderer, version: str | None = None) -> Response:
        start = time.perf_counter()
        request_id = _request_id(request)
        status = 500
        model_label, version_label = name or "", ""
        state.start()
        try:
            if state.in_flight >= options.max_concurrency:
                raise RequestRejected(
                    f"The server is at its limit of {options.max_concurrency} requests in "
                    "flight; retry shortly", status=503)
            state.in_flight += 1
            try:
                key, slot = state.slot(name)
                model_label = key
                served = slot.current
                if served is None:
                    raise RequestRejected(f"Model {key!r} is not ready: {slot.reason}",
                                          status=503)
                if version is not None and version != served.version:
                    raise RequestRejected(
                        f"Model {key!r} version {version} is not served (serving "
                        f"{served.version})", status=404, field="version")
                version_label = served.version
                body = await read_body(request, options.max_body_bytes)
                columns, extra = decode(body, request.headers.get("content-type"), served)
                frame = _decode.build_frame(columns, served.model.signature,
                                            max_rows=options.max_rows)
                future = state.batchers[key].submit(served, frame)
                try:
                    outcome = await asyncio.wait_for(future, options.timeout_s)
                except asyncio.TimeoutError:
                    raise RequestRejected(
                        f"No answer within {options.timeout_s:g} s (--timeout)",
                        status=504) from None
                version_label = outcome.served.version
                payload = render(outcome, request_id, extra)
                response = _json(payload)
                status = 200
                if state.log is not None:
                    state.log.record(outcome.served.name, outcome.served.version, request_id,
                                     outcome.frame, outcome.predictions,
                                     outcome.probabilities)
                state.metrics.observe_predictions(key, version_label, outcome.predictions,
                                                  outcome.probabilities is not None)
            finally:
                state.in_flight -= 1
        except RequestRejected as exc:
            status = exc.status
            response = error_response(exc, request_id)
        response.headers["X-Request-ID"] = request_id
        elapsed = time.perf_counter() - start
        state.metrics.requests.labels(route, str(status), model_label, version_label).inc()
        state.metrics.latency.labels(route).observe(elapsed)
        if options.access_log:
            log_line({"request_id": request_id, "method": request.method, "route": route,
                       "status": status, "ms": round(elapsed * 1000, 3), "model": model_label,
                       "version": version_label})
        return response

    # -- decoders and renderers of the three protocols --------------------------------------

    def native_decode(body: bytes, ctype: str | None, served: Served) -> tuple[Any, Any]:
        _decode.require_json(ctype)
        return _decode.native_columns(_decode.parse_json(body), served.model.signature), None

    def native_render(outcome: Outcome, request_id: str, _: Any) -> dict[str, Any]:
        served = outcome.served
        data: dict[str, Any] = {"model": served.name, "version": served.version,
                                "request_id": request_id,
                                "predictions": outcome.predictions.tolist()}
        if outcome.probabilities is not None:
            data["classes"] = served.model.classes
            data["probabilities"] = outcome.probabilities.tolist()
        return data

    def mlflow_decode(body: bytes, ctype: str | None, served: Served) -> tuple[Any, Any]:
        if _decode.media_type(ctype) == _decode.CSV_TYPE:
            return _decode.csv_columns(body, served.model.signature), None
        try:
            _decode.require_json(ctype)
        except RequestRejected:
            raise RequestRejected(f"Content type {_decode.media_type(ctype)!r} is not "
                                  "accepted; send application/json or text/csv",
                                  status=415) from None
        return _decode.mlflow_columns(_decode.parse_json(body), served.model.signature), None

    def mlflow_render(outcome: Outcome, request_id: str, _: Any) -> dict[str, Any]:
        return {"predictions": outcome.predictions.tolist()}

    def oip_decode(body: bytes, ctype: str | None, served: Served) -> tuple[Any, Any]:
        if _decode.media_type(ctype) == "application/octet-stream":
            raise RequestRejected("The binary tensor extension is not supported; send JSON "
                                  "tensors (tritonclient: binary_data=False)", status=415)
        _decode.require_json(ctype)
        columns, given_id, wanted = _oip.request_columns(_decode.parse_json(body),
                                                         served.model.signature)
        return columns, (given_id, wanted)

    def oip_render(outcome: Outcome, request_id: str, extra: Any) -> dict[str, Any]:
        given_id, wanted = extra
        return _oip.response(outcome, given_id if given_id is not None else request_id, wanted)

    # -- routes ---------------------------------------------------------------------------

    async def predict(request: Request) -> Response:
        """Native prediction: ``{"records": [...]}`` or ``{"columns": {...}}``."""
        return await infer(request, "/predict", request.query_params.get("model"),
                           native_decode, native_render)

    async def invocations(request: Request) -> Response:
        """MLflow scoring protocol: dataframe_split, dataframe_records, instances, inputs,
        text/csv."""
        return await infer(request, "/invocations", request.query_params.get("model"),
                           mlflow_decode, mlflow_render)

    async def oip_infer(request: Request) -> Response:
        """Open Inference Protocol v2 inference."""
        if "inference-header-content-length" in request.headers:
            response = error_response(RequestRejected(
                "The binary tensor extension is not supported; send JSON tensors "
                "(tritonclient: binary_data=False)", status=415), _request_id(request))
            state.metrics.requests.labels("/v2/infer", "415", "", "").inc()
            return response
        params = request.path_params
        return await infer(request, "/v2/infer", params["name"], oip_decode, oip_render,
                           params.get("version"))

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
        several)."""
        request_id = _request_id(request)
        try:
            _decode.require_json(request.headers.get("content-type"))
            doc = _decode.parse_json(await read_body(request, options.max_body_bytes))
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
        return _json({"accepted": len(labels), "request_id": request_id}, 202)

    endpoints: dict[str, tuple[str, Callable[[Request], Awaitable[Response]]]] = {
        "/predict": ("POST", predict),
        "/invocations": ("POST", invocations),
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
        "/v2/models/{name}/infer": ("POST", oip_infer),
        "/v2/models/{name}/versions/{version}/infer": ("POST", oip_infer),
    }
    for path, (method, endpoint) in endpoints.items():
        if path not in ROUTE_POLICIES:  # default-deny: a route without a policy is a bug
            raise AssertionError(f"route {path} declares no policy in ROUTE_POLICIES")
        app.add_api_route(path, endpoint, methods=[method], response_model=None)
    _install_errors(app)
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
        if not isinstance(rid, str) or not _REQUEST_ID.match(rid):
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
