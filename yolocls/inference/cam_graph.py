"""Class activation maps as a second output of the exported ONNX model (graph surgery, no torch).

yolov8-cls ends in conv -> GlobalAveragePool -> Flatten -> Gemm -> Softmax. Pooling and the linear layer
commute, so the map of class c is exactly `W[c] . f[:, y, x] + b[c]` over the last feature map f: a 1x1
Conv with the Gemm's weights. Added as output `cam` (N, classes, h, w); the mean of `cam` over (h, w) is
the model's logits, so softmax(mean(cam)) equals `output0`. The default output is untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CAM_OUTPUT = "cam"


def _consumers(graph: Any, name: str) -> list[Any]:
    return [n for n in graph.node if name in n.input]


def _find_head(graph: Any) -> tuple[Any, Any] | None:
    """(GlobalAveragePool node, Gemm node) of the classification head, or None for another architecture."""
    outputs = {o.name for o in graph.output}
    for pool in graph.node:
        if pool.op_type != "GlobalAveragePool":
            continue
        flat = _consumers(graph, pool.output[0])
        if len(flat) != 1 or flat[0].op_type != "Flatten":
            continue
        gemm = _consumers(graph, flat[0].output[0])
        if len(gemm) != 1 or gemm[0].op_type != "Gemm":
            continue
        soft = _consumers(graph, gemm[0].output[0])
        if len(soft) == 1 and soft[0].op_type == "Softmax" and soft[0].output[0] in outputs:
            return pool, gemm[0]
    return None


def add_cam_output(model: Any) -> bool:
    """Add the `cam` output to an ONNX classifier in place; False when the head is not recognised."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    if any(o.name == CAM_OUTPUT for o in graph.output):
        return True
    head = _find_head(graph)
    if head is None:
        return False
    pool, gemm = head
    inits = {i.name: i for i in graph.initializer}
    if gemm.input[1] not in inits or len(gemm.input) < 3 or gemm.input[2] not in inits:
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
    weight = numpy_helper.to_array(inits[gemm.input[1]]).astype(np.float32)
    weight = weight if attrs.get("transB", 0) else weight.T  # -> (classes, channels)
    weight = weight * float(attrs.get("alpha", 1.0))
    bias = numpy_helper.to_array(inits[gemm.input[2]]).astype(np.float32).reshape(-1) * float(attrs.get("beta", 1.0))
    classes = weight.shape[0]
    graph.initializer.extend([numpy_helper.from_array(weight.reshape(classes, -1, 1, 1), "cam.weight"),
                              numpy_helper.from_array(bias, "cam.bias")])
    graph.node.append(helper.make_node("Conv", [pool.input[0], "cam.weight", "cam.bias"], [CAM_OUTPUT],
                                       name="cam/Conv", kernel_shape=[1, 1]))
    graph.output.append(helper.make_tensor_value_info(CAM_OUTPUT, TensorProto.FLOAT,
                                                      ["batch", classes, "cam_height", "cam_width"]))
    return True
