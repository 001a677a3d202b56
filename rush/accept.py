"""Content negotiation: the Accept, Accept-Language, Accept-Charset and Accept-Encoding fields
of a request parsed as Werkzeug parses them, for Flask code that reads
`request.accept_mimetypes.best_match([...])` or `request.accept_languages.best_match([...])`.

Facts and strategy (RFC 9110 §12.4-12.5; Werkzeug's choices where the RFC leaves one):
- A field is a comma-separated list of values, each with optional `;`-parameters; `q` is its
  quality, digits from 0 to 1 (1 when absent). An item with another `q` is dropped, as
  Werkzeug drops it; other parameters stay part of the value, written `type; name=value`.
- Items are kept in Werkzeug's order: the more specific first (`text/html` before `text/*`
  before `*/*`), then the higher quality, then as sent; `best` is the first.
- `best_match(offers)` is the offer the client prefers: each offer takes the quality of the
  most specific item matching it (0 refuses it: `*/*, text/html;q=0` refuses HTML), the
  highest quality wins, then the more specific item, then the earlier offer. `offer in
  accept` and `accept_json` likewise need a quality above 0 (RFC 9110 §12.4.2: 0 is "not
  acceptable"; Werkzeug's `in` ignores the quality).
- Languages compare case-insensitively with `-` and `_` alike; when nothing matches exactly,
  primary tags are compared (`en-US` takes `en`, and `en` takes `en-GB`), as Werkzeug does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["Accept", "LanguageAccept", "MIMEAccept"]

A = TypeVar("A", bound="Accept")
_QUALITY = re.compile(r"-?\d+(?:\.\d+)?")
_MIME_SPLIT = re.compile(r"/|(?:\s*;\s*)")
_LANGUAGE_SPLIT = re.compile(r"[_-]")


class Accept:
    """An Accept-style field: (value, quality) items, best first; `best_match(offers)`."""

    def __init__(self, items: Iterable[tuple[str, float]] = ()) -> None:
        # A stable sort keeps the order sent among equals (reverse=True keeps it too).
        self._items: list[tuple[str, float]] = sorted(
            items, key=lambda item: (self._specificity(item[0]), item[1]), reverse=True
        )

    @classmethod
    def parse(cls: type[A], value: str | None) -> A:
        """The field's value (None or "" for an absent field: every item is then missing)."""
        items = []
        for piece in (value or "").split(","):
            name, *params = (part.strip() for part in piece.split(";"))
            if not name:
                continue
            quality = 1.0
            kept = []
            for param in params:
                key, _, arg = param.partition("=")
                key, arg = key.strip().lower(), arg.strip()
                if key == "q":
                    quality = float(arg) if _QUALITY.fullmatch(arg) else -1.0
                elif key:
                    kept.append(f"{key}={arg}")
            if not 0.0 <= quality <= 1.0:
                continue  # a q that is not a number from 0 to 1: the item is dropped
            items.append(("; ".join([name, *kept]), quality))
        return cls(items)

    def _specificity(self, value: str) -> tuple[int, ...]:
        return (value != "*",)

    def _matches(self, offer: str, item: str) -> bool:
        return item == "*" or item.lower() == offer.lower()

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __contains__(self, offer: object) -> bool:
        """Whether the client accepts `offer` (some item of quality > 0 matches it)."""
        return isinstance(offer, str) and self.quality(offer) > 0

    def __getitem__(self, offer: str) -> float:
        return self.quality(offer)

    def quality(self, offer: str) -> float:
        """The quality of the most specific item matching `offer`, 0 when none does."""
        found = self._first_match(offer)
        return found[1] if found is not None else 0.0

    def values(self) -> Iterator[str]:
        """The values, best first."""
        return (item for item, _ in self._items)

    @property
    def best(self) -> str | None:
        """The value the client prefers most (None for an empty field)."""
        return self._items[0][0] if self._items else None

    def best_match(self, offers: Iterable[str], default: str | None = None) -> str | None:
        """The offer the client prefers (see the module docstring), else `default`."""
        result = default
        best_quality = -1.0
        best_specificity: tuple[int, ...] = (-1,)
        for offer in offers:
            found = self._first_match(offer)
            if found is None:
                continue
            item, quality = found
            if quality <= 0 or quality < best_quality:
                continue
            specificity = self._specificity(item)
            if quality > best_quality or specificity > best_specificity:
                best_quality, best_specificity, result = quality, specificity, offer
        return result

    def _first_match(self, offer: str) -> tuple[str, float] | None:
        """The most specific item matching `offer` (the items are in that order)."""
        for item, quality in self._items:
            if self._matches(offer, item):
                return item, quality
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class MIMEAccept(Accept):
    """The Accept field: media ranges (`text/*`, `*/*`) match the types they cover."""

    def _specificity(self, value: str) -> tuple[int, ...]:
        return tuple(part != "*" for part in _MIME_SPLIT.split(value))

    def _matches(self, offer: str, item: str) -> bool:
        if "/" not in offer:
            raise ValueError(f"{offer!r} is not a media type (type/subtype)")
        if "/" not in item:
            return False  # the client's item is not a media type: it matches nothing
        offer_type, offer_subtype, offer_params = _media_type(offer)
        item_type, item_subtype, item_params = _media_type(item)
        if item_type == "*" and item_subtype != "*":
            return False  # "*/html" is no media range
        if (item_type, item_subtype) == ("*", "*") or (offer_type, offer_subtype) == ("*", "*"):
            return True
        return item_type == offer_type and (
            item_subtype == "*"
            or offer_subtype == "*"
            or (item_subtype == offer_subtype and item_params == offer_params)
        )

    @property
    def accept_html(self) -> bool:
        """Whether HTML (or XHTML) is acceptable."""
        return "text/html" in self or self.accept_xhtml

    @property
    def accept_xhtml(self) -> bool:
        return "application/xhtml+xml" in self or "application/xml" in self

    @property
    def accept_json(self) -> bool:
        return "application/json" in self


class LanguageAccept(Accept):
    """The Accept-Language field: tags compare without case, `-` and `_` alike."""

    def _matches(self, offer: str, item: str) -> bool:
        return item == "*" or _language(item) == _language(offer)

    def best_match(self, offers: Iterable[str], default: str | None = None) -> str | None:
        """As Accept's, then by primary tags: `en-US` takes `en`, `en` takes `en-GB`."""
        offers = list(offers)
        result = super().best_match(offers)
        if result is not None:
            return result
        primary = Accept((_LANGUAGE_SPLIT.split(item, 1)[0], q) for item, q in self._items)
        result = primary.best_match(offers)
        if result is not None:
            return result
        primaries = [_LANGUAGE_SPLIT.split(offer, 1)[0] for offer in offers]
        result = super().best_match(primaries)
        if result is None:
            return default
        return next(offer for offer in offers if offer.startswith(result))


def _media_type(value: str) -> tuple[str, str, list[str]]:
    """Type, subtype and sorted parameters, in lower case, for comparing (as Werkzeug)."""
    kind, subtype, *params = _MIME_SPLIT.split(value.lower())
    return kind, subtype, sorted(params)


def _language(tag: str) -> str:
    return tag.strip().lower().replace("_", "-")
