"""Help with a session's words: a summary of its transcript, and answers to a learner's
question about its topic. By an OpenAI-compatible chat-completions endpoint when one is
configured (``POST {base}/chat/completions``, a bearer key, ``choices[0].message.content``),
else summaries by extraction (the transcript's most representative sentences) and no
answers: asking says clearly that no assistant is configured."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Protocol

import httpx

from servicekit.errors import Conflict, Unavailable

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-zA-Z\u00c0-\u024f']{3,}")
_STOP = set("the and for that this with you are was have but not they what your from can will just about there "
            "their then than them when which would could should into also been were because very okay yeah".split())


class Assistant(Protocol):
    answers: bool
    method: str

    def summarise(self, transcript: str) -> str: ...

    def answer(self, topic: str, question: str) -> str: ...


def extract(transcript: str, sentences: int = 5) -> str:
    """The ``sentences`` sentences whose words are most frequent across the transcript (length-
    normalised, so a long ramble does not win), in their original order."""
    parts = [s.strip() for s in _SENTENCE.split(transcript) if len(s.strip()) > 20]
    if len(parts) <= sentences:
        return " ".join(parts)
    freq = Counter(w.lower() for w in _WORD.findall(transcript) if w.lower() not in _STOP)

    def score(s: str) -> float:
        words = [w.lower() for w in _WORD.findall(s) if w.lower() not in _STOP]
        return sum(freq[w] for w in words) / math.sqrt(len(words) + 1)

    best = sorted(range(len(parts)), key=lambda i: -score(parts[i]))[:sentences]
    return " ".join(parts[i] for i in sorted(best))


class Extractive:
    answers = False
    method = "extractive"

    def summarise(self, transcript: str) -> str:
        return extract(transcript)

    def answer(self, topic: str, question: str) -> str:
        raise Conflict("no assistant is configured here: ask your tutor in the session's chat")


class OpenAICompatible:
    """Any server that speaks OpenAI's chat completions (OpenAI, vLLM, Ollama, LiteLLM…)."""

    answers = True
    method = "model"

    def __init__(self, base_url: str, api_key: str, model: str, timeout_s: float = 30.0) -> None:
        self.base_url, self.api_key, self.model, self.timeout_s = base_url.rstrip("/"), api_key, model, timeout_s

    def _chat(self, system: str, user: str) -> str:
        try:
            r = httpx.post(f"{self.base_url}/chat/completions", timeout=self.timeout_s,
                           headers={"Authorization": f"Bearer {self.api_key}"},
                           json={"model": self.model, "temperature": 0.2,
                                 "messages": [{"role": "system", "content": system},
                                              {"role": "user", "content": user}]})
        except httpx.HTTPError as exc:
            raise Unavailable(f"the assistant did not answer: {type(exc).__name__}", retry_after=10) from exc
        if r.status_code == 429 or r.status_code >= 500:
            raise Unavailable(f"the assistant is busy or failing (HTTP {r.status_code})", retry_after=10)
        if r.status_code != 200:
            raise Unavailable(f"the assistant refused the request (HTTP {r.status_code})", retry_after=60)
        try:
            return str(r.json()["choices"][0]["message"]["content"]).strip()
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise Unavailable("the assistant answered in a shape this service does not read", retry_after=60) from exc

    def summarise(self, transcript: str) -> str:
        return self._chat("You summarise peer-tutoring sessions for the student: what was covered, what was "
                          "understood, what to practise next. Five sentences at most.", transcript[:60_000])

    def answer(self, topic: str, question: str) -> str:
        return self._chat(f"You help a student between peer-tutoring sessions on: {topic}. Explain briefly and "
                          "point them back to their tutor for anything graded.", question)
