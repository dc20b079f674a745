"""US state names, abbreviations and common misspellings -> USPS two-letter codes."""

from __future__ import annotations

import difflib
import re

STATE_CODES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA",
    "kansas": "KS", "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD",
    "massachusetts": "MA", "michigan": "MI", "minnesota": "MN", "mississippi": "MS",
    "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV", "new hampshire": "NH",
    "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN",
    "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA",
    "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY", "district of columbia": "DC",
    "puerto rico": "PR",
}  # fmt: skip

# Traditional (AP style) abbreviations and everyday spellings people type into forms.
ALIASES = {
    "ala": "AL", "ariz": "AZ", "ark": "AR", "cal": "CA", "calif": "CA", "cali": "CA",
    "colo": "CO", "conn": "CT", "del": "DE", "fla": "FL", "flor": "FL", "ga": "GA",
    "ill": "IL", "ind": "IN", "kan": "KS", "kans": "KS", "ky": "KY", "la": "LA",
    "md": "MD", "mass": "MA", "mich": "MI", "minn": "MN", "miss": "MS", "mo": "MO",
    "mont": "MT", "neb": "NE", "nebr": "NE", "nev": "NV", "n h": "NH", "n j": "NJ",
    "n m": "NM", "n y": "NY", "nyc": "NY", "n c": "NC", "n dak": "ND", "okla": "OK",
    "ore": "OR", "oreg": "OR", "pa": "PA", "penn": "PA", "penna": "PA", "r i": "RI",
    "s c": "SC", "s dak": "SD", "tenn": "TN", "tex": "TX", "vt": "VT", "va": "VA",
    "wash": "WA", "w va": "WV", "wis": "WI", "wisc": "WI", "wyo": "WY", "d c": "DC",
    "washington dc": "DC", "washington d c": "DC",
}  # fmt: skip

CODES = set(STATE_CODES.values())
UNKNOWN = "UNKNOWN"
_NAMES_LONGEST_FIRST = sorted(STATE_CODES, key=len, reverse=True)


def _normalise(text: str) -> str:
    text = re.sub(r"[^a-z ]+", " ", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def code_for(value: str) -> str | None:
    """The code for one value ("california", "tex.", "WA", "Nwe York"), or None."""
    raw = value.strip().strip(".,;:!?\"'")
    if raw.upper() in CODES and len(raw) == 2:
        return raw.upper()
    text = _normalise(value)
    if not text:
        return None
    if text in STATE_CODES:
        return STATE_CODES[text]
    if text in ALIASES:
        return ALIASES[text]
    if text.replace(" ", "").upper() in CODES and len(text.replace(" ", "")) == 2:
        return text.replace(" ", "").upper()
    close = difflib.get_close_matches(text, _NAMES_LONGEST_FIRST, n=1, cutoff=0.8)
    return STATE_CODES[close[0]] if close else None


def find_state_code(prompt: str) -> str:
    """Find the state a prompt is about; UNKNOWN when there is none.

    Tries the whole prompt, then what follows the last colon, then the last line,
    then any state name inside it, then a bare upper-case code.
    """
    candidates = [
        prompt,
        prompt.rsplit(":", 1)[-1],
        prompt.strip().splitlines()[-1] if prompt.strip() else "",
    ]
    for candidate in candidates:
        code = code_for(candidate)
        if code:
            return code
    text = f" {_normalise(prompt)} "
    for name in _NAMES_LONGEST_FIRST:
        if f" {name} " in text:
            return STATE_CODES[name]
    for token in re.findall(r"\b[A-Z]{2}\b", prompt):
        if token in CODES:
            return token
    for word in _normalise(candidates[1]).split():
        code = code_for(word) if len(word) > 3 else None
        if code:
            return code
    return UNKNOWN
