"""Sentence vectors with all-MiniLM-L6-v2 on ONNX Runtime: the graph ``model_build`` wrote
and the model's own WordPiece tokenizer. Vectors come out unit length, so a dot product is
the cosine similarity."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
DIMENSIONS = 384
MAX_TOKENS = 256  # what sentence-transformers uses for this model


def default_model_dir() -> Path:
    """Beside the environment that runs the service (``make install`` builds it there; the
    image's build stage does the same), so every virtualenv and image carries its own."""
    return Path(sys.prefix) / "share" / "alphapeer" / "all-minilm-l6-v2"


class ModelMissing(RuntimeError):
    pass


class Embedder:
    def __init__(self, model_dir: Path | None = None, threads: int = 1, batch_size: int = 16) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = model_dir or default_model_dir()
        if not (folder / MODEL_FILE).exists():
            raise ModelMissing(f"no {MODEL_FILE} in {folder}: run `python -m matching.model_build --out {folder}`"
                               " (make install does)")
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        # One thread per call by default: queries run in parallel in the gateway's threads,
        # and the background indexer must not starve them on two cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Measured (50,000 listings): ORT's CPU arena kept ~160 MB after indexing in batches
        # of 64; without it and in batches of 16, +13 MB, at ~100 texts/s either way.
        options.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size

    @staticmethod
    @functools.cache
    def shared(model_dir: Path | None = None, threads: int = 1) -> Embedder:
        """One loaded model per process and configuration (90 MB of weights; a session is
        safe to call from many threads)."""
        return Embedder(model_dir, threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text (float32, 384 columns)."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Sorting by length keeps padding (wasted work) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start:start + self.batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] or " " for i in chosen])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            (vectors,) = self.session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})
            out[chosen] = vectors
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
