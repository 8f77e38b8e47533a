"""Rows written and read for the engine and the services: the run store, the conductor's ledger,
the audit log and the bulk statements they use. No rules of who may do what live here."""
