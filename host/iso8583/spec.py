"""ISO 8583 layouts as data.

The default wire format is pyiso8583's ``default_ascii``: ASCII MTI, hex-ASCII bitmaps and
field 52 as 16 hex characters. Dialects are copies of it with overrides, never code.
"""

from __future__ import annotations

import copy
from typing import Any

from iso8583.specs import default_ascii as _default_ascii

__all__ = ["DEFAULT_SPEC", "FIELD_NAMES", "RESPONSE_CODES", "PROCESSING_CODES"]

#: The skeleton's wire contract: pyiso8583 ``default_ascii`` unchanged.
DEFAULT_SPEC: dict[str, dict[str, Any]] = copy.deepcopy(_default_ascii)

FIELD_NAMES: dict[str, str] = {k: str(v["desc"]) for k, v in DEFAULT_SPEC.items()}

#: Field 39 response codes used by SST (meaning shown to operators; never to customers verbatim).
RESPONSE_CODES: dict[str, str] = {
    "00": "approved",
    "14": "unknown card",
    "30": "format error",
    "51": "insufficient funds",
    "55": "wrong PIN",
    "75": "PIN tries exceeded",
    "96": "system error",
}

#: Processing codes (field 3, first two digits) the host serves in the skeleton.
PROCESSING_CODES: dict[str, str] = {
    "01": "cash withdrawal",
    "31": "balance inquiry",
}
