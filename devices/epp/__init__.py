"""Encrypting PIN pad: protocol codec, driver, emulated firmware and its pty/TCP emulator.

Import the pieces from their modules (``devices.epp.driver.EppDriver``,
``devices.epp.base.PinPad``...); this package module imports nothing so that the sans-io codec
can be used without pulling in pyserial or asyncio.
"""
