"""Matching's settings: the common ``ALPHAPEER_*`` scheme plus its own fields."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from matching.domain.ranking import SearchWeights
from matching.domain.recommendation import DEFAULT_WEIGHTS, Tuning
from servicekit.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    service_name: str = "matching"
    http_port: int = 8003
    #: How stale the in-memory directory may be while writes keep arriving (seconds).
    matching_refresh_interval: float = Field(default=0.25, gt=0)
    #: Ranking weights (tunable without a deploy): text relevance, price fit, distance.
    matching_weight_text: float = 1.0
    matching_weight_price: float = 0.2
    matching_weight_distance: float = 0.3
    #: The ONNX graph and tokenizer (default: built beside the environment by ``make install``).
    matching_model_dir: Path | None = None
    #: Threads per embedding call; queries run in parallel request threads beside the indexer.
    matching_embed_threads: int = Field(default=1, ge=1, le=16)
    #: Recommendation weights per component, e.g. ALPHAPEER_MATCHING_RECOMMEND_WEIGHTS='{"semantic": 0.6}'
    #: (components not named keep their default).
    matching_recommend_weights: dict[str, float] = Field(default_factory=dict)
    #: Fair exposure: who counts as new, and which page positions are kept for them.
    matching_new_tutor_days: float = Field(default=30, ge=0)
    matching_new_tutor_max_choices: int = Field(default=3, ge=0)
    matching_exposure_positions: list[int] = Field(default_factory=lambda: [3, 8])
    matching_exposure_min_fit: float = Field(default=0.75, ge=0, le=1)

    def recommend_weights(self) -> dict[str, float]:
        unknown = set(self.matching_recommend_weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"ALPHAPEER_MATCHING_RECOMMEND_WEIGHTS: unknown components {sorted(unknown)};"
                             f" known: {sorted(DEFAULT_WEIGHTS)}")
        return {**DEFAULT_WEIGHTS, **self.matching_recommend_weights}

    def search_weights(self) -> SearchWeights:
        return SearchWeights(text=self.matching_weight_text, price=self.matching_weight_price,
                             distance=self.matching_weight_distance)

    def tuning(self) -> Tuning:
        return Tuning(weights=self.recommend_weights(), new_tutor_days=self.matching_new_tutor_days,
                      new_max_choices=self.matching_new_tutor_max_choices,
                      exposure_positions=tuple(self.matching_exposure_positions),
                      exposure_min_fit=self.matching_exposure_min_fit)
