"""Thales payShield host-command wire side: the sans-io codec and the asyncio server.

``hsm_sim.thales.codec`` is pure (no asyncio, socket or clock); ``hsm_sim.thales.server`` is the
asyncio transport around it.
"""
