"""Alpha Peer ledger: the append-only double-entry book of every credit: wallets, escrow
holds and their settlement, fees, grants, statements, reconciliation."""
