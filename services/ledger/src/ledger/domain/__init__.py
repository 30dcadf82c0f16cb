"""Ledger's domain: accounts, transfers and the rules between them (a book kept in memory for
one unit of work, TigerBeetle-fashion), the decisions of the escrow saga and of grants, and
the facts they record. No framework, no contracts."""
