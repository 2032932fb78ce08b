"""Biometric (fingerprint) readers for step-up authentication: ``base`` Protocol, ``emulated``."""
