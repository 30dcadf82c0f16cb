"""Alpha Peer matching: the searchable tutor directory, a read model built only from events."""
