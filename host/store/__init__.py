"""Host storage behind repository Protocols (SQLite by default)."""
