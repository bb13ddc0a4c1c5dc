"""The inference routes, answered straight from ASGI: ``POST /predict``, ``POST /invocations``
and ``POST /v2/models/{name}[/versions/{v}]/infer``.

A request on these routes takes one path, whatever reaches it: :class:`InferenceFront` (the
outermost ASGI layer of the app) matches the three routes and hands them to
:meth:`Inference.answer` without FastAPI's routing, dependency and response machinery, and the
FastAPI routes of the same paths (kept for the route table, ``/openapi.json`` and the 405 of
another method) call the same :meth:`Inference.answer`. Every other route goes on to FastAPI.

Order of the checks, cheapest first: the concurrency limit (503 with ``Retry-After``, before
a byte of the body is read), the model (404, or 503 while it loads), the body size (413, from
``Content-Length`` before reading), then decoding and the signature (:mod:`._decode`).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from assay.errors import RequestRejected
from assay.serving import _decode, _oip
from assay.serving._batcher import Outcome
from assay.serving._events import log_line
from assay.serving._model import Served
from assay.serving._routing import Variant, sticky_value
from assay.serving._shadow import Mirrored
from assay.serving._state import ServerState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 413: "PAYLOAD_TOO_LARGE",
         415: "UNSUPPORTED_MEDIA_TYPE", 422: "INVALID_PARAMETER_VALUE",
         503: "SERVICE_UNAVAILABLE", 504: "TIMEOUT", 500: "INTERNAL_ERROR"}
_BINARY_TENSORS = ("The binary tensor extension is not supported; send JSON tensors "
                   "(tritonclient: binary_data=False)")
_WANTED = {b"content-type", b"content-length", b"x-request-id",
           b"inference-header-content-length"}


def dumps(data: Any) -> bytes:
    """JSON bytes of an answer (a model's NaN or infinity, which JSON cannot hold, is null).
    NumPy arrays of numbers are written by orjson straight from their buffer; any other array
    (strings, objects, not contiguous) as its list."""
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY, default=_listed)


def _listed(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        raise TypeError(f"{type(value).__name__} is not JSON")
    return tolist()


def error_payload(exc: RequestRejected, request_id: str) -> tuple[int, bytes, dict[str, str]]:
    """``(status, body, headers)`` of a refused request; a 503 says when to retry."""
    headers = {"Retry-After": "1"} if exc.status == 503 else {}
    body = dumps({"error": exc.message, "error_code": CODES.get(exc.status, "ERROR"),
                  "field": exc.field, "request_id": request_id})
    return exc.status, body, headers


def request_id_of(given: str | None) -> str:
    """The caller's ``X-Request-ID`` if it is a sane one, else a new id."""
    if given and REQUEST_ID.match(given):
        return given
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Route:
    """A matched inference route: its protocol and, for OIP, the model and version named."""

    protocol: str  # "native", "mlflow" or "oip"
    label: str  # the route label of the metrics
    name: str | None = None
    version: str | None = None


def route_path(scope: Scope) -> str:
    """The path below the app's mount point (as Starlette's router sees it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("/", ""):
        return path[len(root):]
    return path


def match(path: str) -> Route | None:
    """The inference route of ``path``, or None for any other path."""
    if path == "/invocations":
        return Route("mlflow", "/invocations")
    if path == "/predict":
        return Route("native", "/predict")
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        parts = path.split("/")  # "", "v2", "models", name, ["versions", v,] "infer"
        if len(parts) == 5 and parts[3]:
            return Route("oip", "/v2/infer", parts[3])
        if len(parts) == 7 and parts[3] and parts[4] == "versions" and parts[5]:
            return Route("oip", "/v2/infer", parts[3], parts[5])
    return None


def _query_model(scope: Scope) -> str | None:
    query = scope.get("query_string") or b""
    if not query:
        return None
    from urllib.parse import parse_qsl

    found = None
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key == "model":
            found = value  # the last one, as Starlette's query_params.get
    return found


async def read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The body, at most ``limit`` bytes (413 past it, before reading it all)."""
    if declared is not None:
        if not declared.isdigit():
            raise RequestRejected("Content-Length is not a number", status=400)
        if int(declared) > limit:
            raise RequestRejected(f"The body has {declared} bytes; this server takes at most "
                                  f"{limit} (--max-body-bytes)", status=413)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            raise RequestRejected("The client closed the connection", status=400)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestRejected(f"The body is larger than {limit} bytes (--max-body-bytes)",
                                  status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# -- decoders and renderers of the three protocols -------------------------------------------

def _native_decode(body: bytes, ctype: str | None, served: Served) -> tuple[Any, Any]:
    _decode.require_json(ctype)
    return _decode.native_columns(_decode.parse_json(body), served.model.signature), None


def _native_render(outcome: Outcome, request_id: str, _: Any) -> dict[str, Any]:
    served = outcome.served
    data: dict[str, Any] = {"model": served.name, "version": served.version,
                            "request_id": request_id,
                            "predictions": outcome.predictions}
    if outcome.probabilities is not None:
        data["classes"] = served.model.classes
        data["probabilities"] = outcome.probabilities
    return data


def _mlflow_decode(body: bytes, ctype: str | None, served: Served) -> tuple[Any, Any]:
    if _decode.media_type(ctype) == _decode.CSV_TYPE:
        return _decode.csv_columns(body, served.model.signature), None
    try:
        _decode.require_json(ctype)
    except RequestRejected:
        raise RequestRejected(f"Content type {_decode.media_type(ctype)!r} is not "
                              "accepted; send application/json or text/csv",
                              status=415) from None
    return _decode.mlflow_columns(_decode.parse_json(body), served.model.signature), None


def _mlflow_render(outcome: Outcome, request_id: str, _: Any) -> dict[str, Any]:
    return {"predictions": outcome.predictions}


def _oip_decode(body: bytes, ctype: str | None, served: Served) -> tuple[Any, Any]:
    if _decode.media_type(ctype) == "application/octet-stream":
        raise RequestRejected(_BINARY_TENSORS, status=415)
    _decode.require_json(ctype)
    columns, given_id, wanted = _oip.request_columns(_decode.parse_json(body),
                                                     served.model.signature)
    return columns, (given_id, wanted)


def _oip_render(outcome: Outcome, request_id: str, extra: Any) -> dict[str, Any]:
    given_id, wanted = extra
    return _oip.response(outcome, given_id if given_id is not None else request_id, wanted)


Decoder = Callable[[bytes, str | None, Served], tuple[dict[str, list[Any]], Any]]
Renderer = Callable[[Outcome, str, Any], dict[str, Any]]
PROTOCOLS: dict[str, tuple[Decoder, Renderer]] = {
    "native": (_native_decode, _native_render),
    "mlflow": (_mlflow_decode, _mlflow_render),
    "oip": (_oip_decode, _oip_render),
}


class Inference:
    """Answers the inference routes of one server state."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.options = state.options
        deployment = state.deployment
        self._sticky_header = deployment.sticky_header.encode("latin-1") \
            if deployment is not None and deployment.sticky_header else None
        self._sticky_column = deployment.sticky_column if deployment is not None else None
        self._wanted = _WANTED | ({self._sticky_header} if self._sticky_header else set())

    async def answer(self, route: Route, scope: Scope,
                     receive: Receive) -> tuple[int, bytes, dict[str, str]]:
        """``(status, body, headers)`` of one inference request; never raises for bad
        input."""
        start = time.perf_counter()
        state, options = self.state, self.options
        headers: dict[bytes, str] = {}
        for key, value in scope["headers"]:
            if key in self._wanted and key not in headers:
                headers[key] = value.decode("latin-1")
        request_id = request_id_of(headers.get(b"x-request-id"))
        name = route.name if route.protocol == "oip" else _query_model(scope)
        decode, render = PROTOCOLS[route.protocol]
        status = 500
        model_label, version_label, variant_label = name or "", "", ""
        by_model = False
        out_headers: dict[str, str] = {}
        state.start()
        try:
            if route.protocol == "oip" and b"inference-header-content-length" in headers:
                raise RequestRejected(_BINARY_TENSORS, status=415)
            if state.in_flight >= options.max_concurrency:
                raise RequestRejected(
                    f"The server is at its limit of {options.max_concurrency} requests in "
                    "flight; retry shortly", status=503)
            state.in_flight += 1
            state.metrics.in_flight.inc()
            try:
                key, slot = state.slot(name)
                model_label = key
                routing = slot.routing
                if routing is None:
                    raise RequestRejected(f"Model {key!r} is not ready: {slot.reason}",
                                          status=503)
                served = routing.stable
                chosen: Variant | None = None
                if route.version is not None:
                    chosen = routing.by_version(route.version)
                    if chosen is None:
                        raise RequestRejected(
                            f"Model {key!r} version {route.version} is not served (serving "
                            f"{', '.join(v.served.version for v in routing.variants)})",
                            status=404, field="version")
                    served = chosen.served
                shadow: Variant | None = None
                if chosen is None and self._sticky_column is None:
                    sticky = headers.get(self._sticky_header) if self._sticky_header else None
                    chosen, shadow = routing.choose(sticky or None)
                    served = chosen.served
                version_label = served.version
                body = await read_body(receive, headers.get(b"content-length"),
                                       options.max_body_bytes)
                ctype = headers.get(b"content-type")
                columns, extra = decode(body, ctype, served)
                if chosen is None:  # sticky by an input column: the first row's value
                    assert self._sticky_column is not None
                    values = columns.get(self._sticky_column)
                    chosen, shadow = routing.choose(
                        sticky_value(values[0]) if values else None)
                    if chosen.served.model.signature.inputs != served.model.signature.inputs:
                        columns, extra = decode(body, ctype, chosen.served)
                    served = chosen.served
                variant_label, version_label = chosen.name, served.version
                rows = _decode.build_frame(columns, served.model.signature,
                                           max_rows=options.max_rows)
                future = state.batchers[key].submit(served, rows)
                by_model = True  # from here on, a refusal is the model's: it counts for it
                try:
                    outcome = await asyncio.wait_for(future, options.timeout_s)
                except asyncio.TimeoutError:
                    raise RequestRejected(
                        f"No answer within {options.timeout_s:g} s (--timeout)",
                        status=504) from None
                version_label = outcome.served.version
                payload = dumps(render(outcome, request_id, extra))
                status = 200
                if state.log is not None:
                    state.log.record(outcome.served.name, outcome.served.version, request_id,
                                     outcome.frame, outcome.predictions,
                                     outcome.probabilities, variant=variant_label)
                state.metrics.observe_predictions(key, version_label, variant_label,
                                                  outcome.predictions,
                                                  outcome.probabilities is not None)
                state.answers.remember(key, request_id, version_label, variant_label,
                                       outcome.predictions, outcome.probabilities is not None)
                if shadow is not None:
                    self._mirror(route, key, shadow, columns, rows, request_id)
            finally:
                state.in_flight -= 1
                state.metrics.in_flight.dec()
        except RequestRejected as exc:
            status, payload, out_headers = error_payload(exc, request_id)
        out_headers["X-Request-ID"] = request_id
        elapsed = time.perf_counter() - start
        if status != 200 and status < 500 and not by_model:
            variant_label = ""  # refused before the model: no model answered
        state.metrics.requests.labels(route.label, str(status), model_label, version_label,
                                      variant_label).inc()
        state.metrics.latency.labels(route.label, model_label, version_label,
                                     variant_label).observe(elapsed)
        if options.access_log:
            log_line({"request_id": request_id, "method": "POST", "route": route.label,
                      "status": status, "ms": round(elapsed * 1000, 3), "model": model_label,
                      "version": version_label, "variant": variant_label})
        return status, payload, out_headers

    def _mirror(self, route: Route, key: str, shadow: Variant, columns: dict[str, list[Any]],
                rows: _decode.Rows, request_id: str) -> None:
        """Hand the request's rows to the shadow process (:mod:`._shadow`): predicted there in
        the background, never awaited, never returned."""
        state, served = self.state, shadow.served
        if served.model.signature.inputs != rows.signature.inputs:
            try:
                rows = _decode.build_frame(columns, served.model.signature,
                                           max_rows=self.options.max_rows)
            except RequestRejected:  # the candidate refuses what the incumbent took
                state.metrics.requests.labels(route.label, "500", key, served.version,
                                              shadow.name).inc()
                return
        state.shadows[key].submit(Mirrored(route.label, shadow, rows, request_id))


class InferenceFront:
    """The outermost ASGI layer: POSTs to the inference routes go straight to
    :class:`Inference`; everything else (other routes, other methods) goes on to ``app``."""

    def __init__(self, app: ASGIApp, *, inference: Inference) -> None:
        self.app = app
        self.inference = inference

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = match(route_path(scope))
            if route is not None:
                status, body, headers = await self.inference.answer(route, scope, receive)
                await send({"type": "http.response.start", "status": status, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *((k.lower().encode(), v.encode("latin-1")) for k, v in headers.items())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
