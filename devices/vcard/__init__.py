"""The virtual EMV card: card application (sans-io), state persistence, faults, vpcd client."""
