"""Context lengths a card's text claims ("128K context", "Context Length: 32,768 natively and
131,072 tokens with YaRN"), each with its line, so evaluate can compare them with the GGUF's.
"""
from __future__ import annotations

import re

from .candidate_record import ContextClaim

_CONTEXT_WORD = re.compile(r"\bcontext\b|\bctx\b|\bn_ctx\b|\btokens?\b.*\bnatively\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*([KkM])?(?![\w])(?P<after>\s*(?:tokens?|context))?",
                     re.IGNORECASE)
_INLINE_CODE = re.compile(r"`[^`]*`")
_YARN = re.compile(r"\byarn\b|rope[ _-]?scal", re.IGNORECASE)


def find_context_claims(body: str, *, first_line: int = 1) -> list[ContextClaim]:
    """Context lengths stated in the text: "128K context", "Context Length: 32,768 natively and
    131,072 tokens with YaRN". Only lines that speak of context (or tokens "natively") count;
    numbers below 2048, numbers that are no multiple of 1000 or 1024 (years), "270M" (a parameter
    count: M counts only before "tokens"/"context") and inline code are ignored. A line mentioning
    YaRN / RoPE scaling marks its largest number extended."""
    claims: list[ContextClaim] = []
    in_code = False
    for offset, line in enumerate(body.splitlines()):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        original, line = line, _INLINE_CODE.sub(" ", line)  # command lines quoted in the text are not claims
        if in_code or not _CONTEXT_WORD.search(line):
            continue
        found: list[int] = []
        for m in _NUMBER.finditer(line):
            raw, unit = m.group(1), (m.group(2) or "").upper()
            try:
                value = float(raw.replace(",", ""))
            except ValueError:
                continue
            if unit == "K":
                tokens = int(value * 1024)
            elif unit == "M":
                if not m.group("after"):
                    continue  # "270M" is a parameter count; "1M tokens" / "1M context" is a context
                tokens = int(value * 1024 * 1024)
            else:
                if "." in raw:
                    continue
                tokens = int(value)
                if tokens % 1024 and tokens % 1000:
                    continue
            if tokens >= 2048 and tokens not in found:
                found.append(tokens)
        if not found:
            continue
        yarn = bool(_YARN.search(line))
        biggest = max(found)
        for tokens in found:
            claims.append(ContextClaim(tokens=tokens, line=first_line + offset, text=original.strip()[:200],
                                       extended=yarn and len(found) > 1 and tokens == biggest))
    return claims
