"""The tutor directory: a read model built only from `identity.events`, `catalog.events` and
`booking.events`, searchable by subject, level, text, price, mode, distance, language, style and
availability (in the searcher's zone); recommendations for a need (all-MiniLM-L6-v2), with why."""

from __future__ import annotations

from matching.adapters import readmodel
from matching.adapters.directory import Directory
from matching.adapters.embedding import Embedder
from matching.adapters.personal import Opener, refresh_on_key_change
from matching.adapters.vectors import VectorIndex, VectorIndexer
from matching.application import MatchingApplication
from matching.http import ROUTERS
from matching.settings import MatchingSettings
from servicekit.service import Assembly, Service
from servicekit.subscriber import ProjectionReaction


def assemble(svc: Assembly[MatchingSettings]) -> None:
    s = svc.settings
    db = svc.tables(readmodel.DDL)
    svc.seed(lambda: readmodel.retire(db), name="drop retired tables")
    svc.reacts_to(*readmodel.TOPICS, reaction=ProjectionReaction(db, readmodel.apply))
    ring = svc.reads_personal_data_of("identity", "catalog")  # names and bios arrive sealed
    refresh_on_key_change(ring, db)
    embedder = Embedder.shared(s.matching_model_dir, s.matching_embed_threads)
    # The vector memo lives in a schema of its own, so a rebuild of the read model keeps it.
    directory = Directory(db, VectorIndex(svc.database("memo"), embedder), s.matching_refresh_interval,
                          Opener(ring))
    directory.load()
    svc.worker(VectorIndexer(directory, s.matching_refresh_interval))
    svc.provide(matching=MatchingApplication(directory, embedder, s.search_weights(), s.tuning()))


service = Service("matching", MatchingSettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main

if __name__ == "__main__":  # pragma: no cover
    main()
