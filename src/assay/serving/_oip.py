"""The Open Inference Protocol v2 (KServe, Triton, MLServer): typed tensors in and out.

One input tensor per signature column (shape ``[N]`` or ``[N, 1]``), or a single tensor of
shape ``[N, columns]`` holding every column in the signature's order. JSON only: a request
using the binary tensor extension (``Inference-Header-Content-Length``) is answered 415.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import RequestRejected
from assay.models import Signature, dtype_family

if TYPE_CHECKING:
    from assay.serving._batcher import Outcome

_FAMILY_OF = {"BOOL": "boolean", "BYTES": "string"}
for _kind in ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16",
              "FP32", "FP64"):
    _FAMILY_OF[_kind] = "numeric"
_OIP_OF = {"Float64": "FP64", "Float32": "FP32", "Int64": "INT64", "Int32": "INT32",
           "Int16": "INT16", "Int8": "INT8", "UInt64": "UINT64", "UInt32": "UINT32",
           "UInt16": "UINT16", "UInt8": "UINT8", "Boolean": "BOOL", "String": "BYTES"}


def datatype(dtype: str) -> str:
    """The OIP datatype of a signature dtype."""
    family = dtype_family(dtype)
    return _OIP_OF.get(dtype) or {"numeric": "FP64", "boolean": "BOOL"}.get(family, "BYTES")


def _reject(message: str, field: str | None = None, status: int = 422) -> RequestRejected:
    return RequestRejected(message, status=status, field=field)


def _flat(data: Any, shape: list[int], name: str) -> list[Any]:
    if not isinstance(data, list):
        raise _reject(f"input {name!r}: data must be a list", field=name)
    if len(shape) == 2 and data and isinstance(data[0], list):
        out: list[Any] = []
        for row in data:
            if not isinstance(row, list):
                raise _reject(f"input {name!r}: data mixes rows and values", field=name)
            out.extend(row)
        return out
    return data


def _shape(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= 2 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        raise _reject(f"input {name!r}: shape must be [N] or [N, columns] of non-negative "
                      "integers", field=name)
    return value


def request_columns(doc: Any, signature: Signature) -> tuple[dict[str, list[Any]], str | None,
                                                              list[str] | None]:
    """``(columns, request id, requested output names)`` of an inference request."""
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list):
        raise _reject('An inference request is {"inputs": [{"name", "shape", "datatype", '
                      '"data"}, ...]}')
    unknown = sorted(set(doc) - {"id", "inputs", "outputs", "parameters"})
    if unknown:
        raise _reject(f"unknown key {unknown[0]!r} in the inference request", field=unknown[0])
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _reject("id must be a string", field="id")
    names = signature.input_names
    by_name = {c.name: c.dtype for c in signature.inputs}
    tensors = doc["inputs"]
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, dict):
            raise _reject(f"inputs[{i}] must be a tensor object")
        name = tensor.get("name")
        if not isinstance(name, str):
            raise _reject(f"inputs[{i}] has no name")
        extra = sorted(set(tensor) - {"name", "shape", "datatype", "data", "parameters"})
        if extra:
            raise _reject(f"input {name!r}: unknown key {extra[0]!r}", field=name)
        if "data" not in tensor:
            raise _reject(f"input {name!r} has no data (the binary extension is not "
                          "supported; send JSON data)", field=name)
        kind = tensor.get("datatype")
        if kind not in _FAMILY_OF:
            raise _reject(f"input {name!r}: unknown datatype {kind!r}", field=name)
        shape = _shape(tensor.get("shape"), name)
        data = _flat(tensor["data"], shape, name)
        size = 1
        for d in shape:
            size *= d
        if len(data) != size:
            raise _reject(f"input {name!r}: shape {shape} holds {size} values; data has "
                          f"{len(data)}", field=name)
        if name in by_name:
            if len(shape) == 2 and shape[1] != 1:
                raise _reject(f"input {name!r} is one column; its shape is [N] or [N, 1]",
                              field=name)
            if name in columns:
                raise _reject(f"input {name!r} is given twice", field=name)
            _check_family(name, kind, by_name[name])
            columns[name] = data
        elif len(tensors) == 1 and len(shape) == 2 and shape[1] == len(names):
            width = len(names)
            for j, column in enumerate(names):
                _check_family(column, kind, by_name[column])
                columns[column] = data[j::width]
        else:
            raise _reject(f"unknown input {name!r}; the model takes {', '.join(names)} (or "
                          f"one [N, {len(names)}] tensor)", field=name)
    missing = [n for n in names if n not in columns]
    if missing:
        raise _reject(f"missing input {missing[0]!r}", field=missing[0])
    outputs = doc.get("outputs")
    wanted = None
    if outputs is not None:
        if not isinstance(outputs, list) or not all(
                isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs):
            raise _reject('outputs must be a list of {"name": ...}', field="outputs")
        wanted = [o["name"] for o in outputs]
    return columns, request_id, wanted


def _check_family(name: str, kind: str, dtype: str) -> None:
    want = dtype_family(dtype)
    if _FAMILY_OF[kind] != want:
        raise _reject(f"input {name!r} is {datatype(dtype)} ({dtype}); got {kind}", field=name)


def output_specs(classification: bool, classes: list[Any]) -> list[dict[str, Any]]:
    """The outputs a model answers, for model metadata."""
    label = "BYTES" if any(isinstance(c, str) for c in classes) else "INT64"
    if not classification:
        return [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
    return [{"name": "prediction", "datatype": label, "shape": [-1]},
            {"name": "probability", "datatype": "FP64", "shape": [-1, len(classes)]}]


def response(outcome: Outcome, request_id: str, wanted: list[str] | None) -> dict[str, Any]:
    """An inference response with the requested outputs (all of them by default)."""
    import numpy as np

    served = outcome.served
    predictions = outcome.predictions
    rows = int(predictions.shape[0])
    classification = outcome.probabilities is not None
    specs = {s["name"]: s for s in output_specs(classification, served.model.classes)}
    names = wanted if wanted is not None else list(specs)
    outputs = []
    for name in names:
        if name not in specs:
            raise _reject(f"unknown output {name!r}; the model answers {', '.join(specs)}",
                          field=name, status=400)
        if name == "prediction":
            kind = specs[name]["datatype"]
            data = predictions.astype(float if kind == "FP64" else object).tolist() \
                if kind != "BYTES" else [str(v) for v in predictions.tolist()]
            outputs.append({"name": name, "datatype": kind, "shape": [rows], "data": data})
        else:
            assert outcome.probabilities is not None
            proba = np.asarray(outcome.probabilities, dtype=float)
            outputs.append({"name": name, "datatype": "FP64", "shape": list(proba.shape),
                            "data": proba.reshape(-1).tolist()})
    return {"model_name": served.name, "model_version": served.version, "id": request_id,
            "outputs": outputs}
