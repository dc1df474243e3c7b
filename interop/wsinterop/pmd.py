"""permessage-deflate (RFC 7692) as the harness sees it: parsing Sec-WebSocket-Extensions
values, the parameters an offer and its answer put in force, the checks on them, and raw
DEFLATE for the hand-written frames (zlib, negative wbits = raw deflate)."""

from __future__ import annotations

import zlib

NAME = "permessage-deflate"
TAIL = b"\x00\x00\xff\xff"  # removed from a compressed message, appended before inflating (7.2.1)
# What sockless's client offers with its default DeflateConfig (and what browsers offer).
DEFAULT_OFFER = [(NAME, {"client_max_window_bits": True})]


def parse(header):
    """'permessage-deflate; a=1, x' -> [('permessage-deflate', {'a': '1'}), ('x', {})]. Values
    are strings (quotes removed) or True for a parameter without a value; None parses to []."""
    out = []
    for element in (header or "").split(","):
        parts = [p.strip() for p in element.split(";")]
        if not parts[0]:
            continue
        params = {}
        for part in parts[1:]:
            if not part:
                continue
            key, eq, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"') if eq else True
        out.append((parts[0].lower(), params))
    return out


def offer_text(params):
    """The Sec-WebSocket-Extensions value of one permessage-deflate offer."""
    parts = [NAME]
    for key, value in params.items():
        parts.append(key if value is True else f"{key}={value}")
    return "; ".join(parts)


def _bits(value, default=15):
    return int(value) if isinstance(value, str) else default


def in_force(offer, answer):
    """The parameters an accepted offer and its answer put in force (RFC 7692 7.1), as
    (problems, {"server_nct", "client_nct", "server_bits", "client_bits"}): problems lists what
    the answer does wrong against the offer (both are parameter dicts from parse())."""
    problems = []
    unknown = set(answer) - {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }
    if unknown:
        problems.append(f"unknown parameters {sorted(unknown)}")
    if offer.get("server_no_context_takeover") and not answer.get("server_no_context_takeover"):
        problems.append("server_no_context_takeover offered but not answered")
    if "server_max_window_bits" in offer:
        if "server_max_window_bits" not in answer:
            problems.append("server_max_window_bits offered but not answered")
        elif _bits(answer["server_max_window_bits"]) > _bits(offer["server_max_window_bits"]):
            problems.append("server_max_window_bits answered larger than offered")
    if "client_max_window_bits" in answer:
        if answer["client_max_window_bits"] is True:
            problems.append("client_max_window_bits answered without a value")
        elif "client_max_window_bits" not in offer:
            problems.append("client_max_window_bits answered but not offered")
        elif _bits(answer["client_max_window_bits"]) > _bits(offer["client_max_window_bits"]):
            problems.append("client_max_window_bits answered larger than offered")
    client_bits = answer.get("client_max_window_bits", offer.get("client_max_window_bits"))
    return problems, {
        "server_nct": bool(answer.get("server_no_context_takeover")),
        "client_nct": bool(offer.get("client_no_context_takeover") or answer.get("client_no_context_takeover")),
        "server_bits": _bits(answer.get("server_max_window_bits")),
        "client_bits": _bits(client_bits),
    }


def expected(server_nct=False, client_nct=False, server_bits=15, client_bits=15):
    return {"server_nct": server_nct, "client_nct": client_nct, "server_bits": server_bits, "client_bits": client_bits}


def describe(agreed):
    return (
        f"server {'no ' if agreed['server_nct'] else ''}takeover w{agreed['server_bits']}, "
        f"client {'no ' if agreed['client_nct'] else ''}takeover w{agreed['client_bits']}"
    )


ANY = "any"  # check_agreement: any valid permessage-deflate answer


def check_agreement(offer_header, answer_header, want):
    """Whether the answer to the offer agreed exactly `want`: a dict from expected(), ANY (any
    valid permessage-deflate answer), or None (no extension). Returns (ok, detail quoting both
    headers)."""
    detail = f"offered {offer_header!r}, answered {answer_header!r}"
    answers = parse(answer_header)
    if want is None:
        return not answers, detail + ("" if not answers else " (expected no extension)")
    offers = [p for name, p in parse(offer_header) if name == NAME]
    if len(answers) != 1 or answers[0][0] != NAME:
        return False, detail + " (expected exactly one permessage-deflate)"
    if not offers:
        return False, detail + " (permessage-deflate answered but not offered)"
    # The server accepts one of the offers; the answer must fit one of them.
    best = None
    for offer in offers:
        problems, agreed = in_force(offer, answers[0][1])
        if not problems and (want == ANY or agreed == want):
            return True, detail + f": {describe(agreed)}"
        best = best or (problems, agreed)
    problems, agreed = best
    what = "; ".join(problems) if problems else f"agreed {describe(agreed)}, expected {describe(want)}"
    return False, detail + f" ({what})"


def compress(data, wbits=15, level=6):
    """One message's compressed payload, ending in a sync flush whose tail is removed."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[: -len(TAIL)]


class Inflater:
    """One side's inflater for the messages of a connection, with a window of 2**wbits bytes (zlib
    fails on a distance beyond it: "invalid distance too far back"), kept from message to message
    unless the sender agreed no context takeover. Raises zlib.error on invalid data."""

    def __init__(self, wbits=15, no_context_takeover=False):
        self.wbits = wbits
        self.no_context_takeover = no_context_takeover
        self.d = None

    def inflate(self, payload):
        if self.d is None or self.no_context_takeover:
            self.d = zlib.decompressobj(-self.wbits)
        return self.d.decompress(payload + TAIL)
