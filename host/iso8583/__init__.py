"""ISO 8583 wire layer shared by the host and the terminal.

``spec`` (pyiso8583 spec dicts as data), ``codec`` (the only pyiso8583 adapter), ``framing``
(length prefixes, sans-io), ``messages`` (typed views per MTI), ``channel`` (asyncio client with a
MUX matching MTI class + field 41 + field 11).
"""
