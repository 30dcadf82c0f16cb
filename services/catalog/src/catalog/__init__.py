"""Alpha Peer catalog: what is taught, by whom, at what rate."""
