"""The three protocols, each with a real client over real HTTP against a real server process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.serving.worlds import Server

JSON = {"Content-Type": "application/json"}

# The request bodies of MLflow's documentation ("Deploy MLflow Model as a Local Inference
# Server" and the scoring-protocol section of "MLflow Models"), byte for byte, on a model that
# takes columns a, b and c.
MLFLOW_DOCUMENTED = {
    "dataframe_split": b"""{
  "dataframe_split": {
      "columns": ["a", "b", "c"],
      "data": [[1, 2, 3], [4, 5, 6]]
  }
}""",
    "dataframe_records": b"""{
  "dataframe_records": [
    {"a": 1,"b": 2,"c": 3},
    {"a": 4,"b": 5,"c": 6}
  ]
}""",
    "inputs": b'{"inputs": [[1, 2, 3], [4, 5, 6]]}',
    "instances": b"""{
    "instances": [
        {"a": 1, "b": 2, "c": 3},
        {"a": 4, "b": 5, "c": 6}
    ]
}""",
    "inputs_columns": b"""{
    "inputs": {"a": [1, 4], "b": [2, 5], "c": [3, 6]}
}""",
}


def _expected(server: Server) -> list[int]:
    with server.client() as client:
        found = client.post("/predict", json={"columns": {"a": [1, 4], "b": [2, 5],
                                                          "c": [3, 6]}})
    assert found.status_code == 200, found.text
    return list(found.json()["predictions"])


@pytest.mark.parametrize("kind", sorted(MLFLOW_DOCUMENTED))
def test_mlflow_scoring_payloads_answer_predictions(server: Server, kind: str) -> None:
    with server.client() as client:
        answer = client.post("/invocations", content=MLFLOW_DOCUMENTED[kind], headers=JSON)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": _expected(server)}


def test_mlflow_csv_answers_predictions(server: Server) -> None:
    with server.client() as client:
        answer = client.post("/invocations", content=b"a,b,c\n1,2,3\n4,5,6\n",
                             headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": _expected(server)}


def test_native_predict_answers_probabilities_version_and_request_id(server: Server) -> None:
    with server.client() as client:
        answer = client.post("/predict", json={"records": [{"a": 1.5, "b": 2, "c": -1.0}]},
                             headers={"X-Request-ID": "req-42"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "toy" and body["version"] == "1"
    assert body["request_id"] == "req-42" == answer.headers["x-request-id"]
    assert body["classes"] == [0, 1]
    assert len(body["probabilities"]) == 1 and sum(body["probabilities"][0]) == pytest.approx(1)
    assert body["predictions"] == [int(np.argmax(body["probabilities"][0]))]


def test_open_inference_protocol_with_tritonclient(server: Server) -> None:
    import tritonclient.http as triton

    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("toy")
    metadata = client.get_model_metadata("toy")
    assert [i["name"] for i in metadata["inputs"]] == ["a", "b", "c"]
    assert metadata["versions"] == ["1"]
    inputs = []
    for name, values, kind in (("a", np.array([1.0, 4.0]), "FP64"),
                               ("b", np.array([2, 5], dtype=np.int64), "INT64"),
                               ("c", np.array([3.0, 6.0]), "FP64")):
        tensor = triton.InferInput(name, [2], kind)
        tensor.set_data_from_numpy(values, binary_data=False)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput("prediction", binary_data=False),
               triton.InferRequestedOutput("probability", binary_data=False)]
    result = client.infer("toy", inputs, outputs=outputs)
    assert result.as_numpy("prediction").tolist() == _expected(server)
    assert result.as_numpy("probability").shape == (2, 2)
    versioned = client.infer("toy", inputs, model_version="1", outputs=outputs)
    assert versioned.as_numpy("prediction").tolist() == _expected(server)
    assert versioned.get_response()["model_version"] == "1"
    client.close()


def test_oip_one_tensor_of_all_columns(server: Server) -> None:
    body = {"inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP64",
                        "data": [[1, 2, 3], [4, 5, 6]]}]}
    with server.client() as client:
        answer = client.post("/v2/models/toy/infer", json=body)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    assert outputs["prediction"]["data"] == _expected(server)
    assert outputs["probability"]["shape"] == [2, 2]


def test_oip_binary_extension_and_unknown_version_are_refused(server: Server) -> None:
    with server.client() as client:
        binary = client.post("/v2/models/toy/infer", content=b"\x00" * 16,
                             headers={"Inference-Header-Content-Length": "10"})
        other = client.post("/v2/models/toy/versions/7/infer", json={"inputs": []})
        unknown = client.get("/v2/models/nope/ready")
    assert binary.status_code == 415 and "binary" in binary.json()["error"]
    assert other.status_code == 404 and other.json()["field"] == "version"
    assert unknown.status_code == 404


def test_metrics_and_status(server: Server) -> None:
    with server.client() as client:
        client.post("/predict", json={"records": [{"a": 1.0, "b": 2, "c": 3.0}]})
        text = client.get("/metrics").text
        status = client.get("/status").json()
    assert 'assay_serving_requests_total{model="toy",route="/predict",status="200",' \
           'variant="stable",version="1"}' in text
    assert 'assay_serving_request_seconds_bucket{le="0.0005",model="toy",route="/predict",' \
           'variant="stable",version="1"}' in text
    assert "assay_serving_batch_rows_bucket" in text
    assert 'assay_serving_predictions_total{label="' in text
    assert status["ready"] is True and status["models"][0]["version"] == "1"


def test_a_package_outside_any_project_is_served_unregistered(root: Path,
                                                               tmp_path: Path) -> None:
    import shutil

    from tests.serving.worlds import serving

    alone = tmp_path / "alone"
    shutil.copytree(root / "models" / "v1", alone / "model")
    with serving(alone, "./model") as server, server.client() as client:
        answer = client.post("/predict", json={"records": [{"a": 1.0, "b": 2, "c": 3.0}]})
    assert answer.status_code == 200 and answer.json()["version"] == "unregistered"
