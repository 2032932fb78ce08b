"""Authorisation: an ordered list of participants sharing a typed context (HSM-3)."""
