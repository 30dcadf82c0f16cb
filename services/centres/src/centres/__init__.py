"""Alpha Peer centres: campus tutoring centres: opening hours, closures, rosters and the drop-in queue."""
