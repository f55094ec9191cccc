"""The beacon body: Plausible's Events API fields exactly as Plausible's tracker sends them,
plus spii's extensions. These pydantic models validate input and generate /openapi.json."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["EventPayload", "Revenue", "Item", "KINDS", "validation_details", "kind_of"]

KINDS = ("pageview", "event", "transaction", "fulfilment", "contact", "engagement")
FIRST_CLASS = {"pageview": "pageview", "transaction": "transaction", "fulfilment": "fulfilment", "contact": "contact", "engagement": "engagement"}
MAX_ENGAGED_MS = 86_400_000  # one ping's engaged time is capped at a day (a tab left open is not a reader)
MAX_PROPS = 30
MAX_PROP_KEY = 64
MAX_PROP_VALUE = 500
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LABEL = re.compile(r"^[A-Za-z0-9_.:\- ]{1,64}$")
# What the validators below accept, stated in /openapi.json (pydantic's own schema says less)
_MONEY = {"anyOf": [{"type": "number", "exclusiveMinimum": -1e14, "exclusiveMaximum": 1e14},
                    {"type": "string", "pattern": r"^-?[0-9]{1,13}(\.[0-9]{1,8})?$"}]}
_FLAG = {"anyOf": [{"type": "boolean"}, {"type": "integer"}, {"type": "null"}]}
_NUMBER = {"anyOf": [{"type": "number"}, {"type": "null"}]}
_PROPS = {"anyOf": [{"type": "object", "maxProperties": MAX_PROPS, "propertyNames": {"minLength": 1, "maxLength": MAX_PROP_KEY},
                     "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}, {"type": "null"}]}


def kind_of(name: str) -> str:
    return FIRST_CLASS.get(name, "event")


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError("must be a decimal number") from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e14"):
        raise ValueError("must be a finite number below 1e14")
    return amount.quantize(Decimal("0.0001"))


class Revenue(BaseModel):
    model_config = ConfigDict(extra="ignore")
    amount: Decimal = Field(description="Amount in the currency's main unit, e.g. 12.50", json_schema_extra=_MONEY)
    currency: str = Field(description="ISO 4217 code, e.g. GBP", json_schema_extra={"pattern": r"^\s*[A-Za-z]{3}\s*$"})

    _check_amount = field_validator("amount", mode="before")(classmethod(lambda cls, v: _amount(v)))

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.strip().upper()
        if not _CURRENCY.match(value):
            raise ValueError("must be a 3-letter ISO 4217 code")
        return value


class Item(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sku: str = Field(max_length=64)
    quantity: int = Field(1, ge=1, le=100000)
    price: Decimal = Field(Decimal("0"), json_schema_extra=_MONEY)

    _check_price = field_validator("price", mode="before")(classmethod(lambda cls, v: _amount(v)))


class EventPayload(BaseModel):
    """One event. Plausible fields: n, u, d, r, p/props, revenue, i, h. spii extensions: pc, cc,
    order, items, status, channel, cid."""

    model_config = ConfigDict(extra="ignore")

    n: str = Field(min_length=1, max_length=120, description="Event name: pageview, transaction, fulfilment, contact, or any custom name")
    u: str = Field(min_length=1, max_length=4096, repr=False, description="Page URL (absolute http(s))",
                   pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]")
    d: str = Field(min_length=1, max_length=253, description="Site domain as registered for the client")
    r: str | None = Field(None, max_length=4096, repr=False, description="Referrer URL")
    p: dict[str, str] | None = Field(
        None, repr=False, description="Custom properties (object or JSON string; 'props' accepted too)", validation_alias=AliasChoices("p", "props"),
        json_schema_extra=_PROPS,
    )
    # Plausible's tracker sends revenue under "$"; its Events API documents "revenue"
    revenue: Revenue | None = Field(None, validation_alias=AliasChoices("revenue", "$"))
    i: bool | None = Field(None, description="Interactive event (Plausible)", json_schema_extra=_FLAG)
    h: bool | None = Field(None, description="Hash-based routing: keep the #/route", json_schema_extra=_FLAG)
    pc: str | None = Field(None, max_length=32, repr=False, description="Postcode ('postcode' accepted too); only its outward code / area is stored",
                           validation_alias=AliasChoices("pc", "postcode"))
    cc: str | None = Field(None, max_length=2, pattern=r"^[A-Za-z]{2}$",
                           description="ISO 3166-1 alpha-2 country of the postcode ('country' accepted too)",
                           validation_alias=AliasChoices("cc", "country"))
    order: str | None = Field(None, max_length=128, repr=False, description="Order id (stored as a keyed hash)")
    items: list[Item] | None = Field(None, max_length=100)
    status: str | None = Field(None, max_length=64, pattern=_LABEL.pattern,
                               description="Fulfilment status, e.g. shipped (stored on a fulfilment only)")
    channel: str | None = Field(None, max_length=64, pattern=_LABEL.pattern,
                                description="Contact channel, e.g. email, phone, form (stored on a contact only)")
    cid: str | None = Field(None, min_length=8, max_length=64, repr=False, description="Consented first-party cookie id (stored as a keyed hash)")
    g: bool | None = Field(None, description="The browser sent Global Privacy Control or Do Not Track: store no identifier",
                           json_schema_extra=_FLAG)
    # Plausible's engagement pings (n = "engagement"): sent when a page is hidden or left
    sd: int | None = Field(None, description="Engagement: the page's maximum scroll depth so far, % (0-100; clamped)", json_schema_extra=_NUMBER)
    e: int | None = Field(None, description="Engagement: engaged time on the page since the previous ping, ms (clamped to a day)",
                          json_schema_extra=_NUMBER)

    @model_validator(mode="before")
    @classmethod
    def _flat_revenue(cls, data: Any) -> Any:
        """The tracker's spii('transaction', {amount, currency, ...}) sends revenue flat."""
        if isinstance(data, dict) and "amount" in data and "revenue" not in data and "$" not in data:
            data = {**data, "revenue": {"amount": data["amount"], "currency": data.get("currency")}}
        return data

    @field_validator("p", mode="before")
    @classmethod
    def _props(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise ValueError("must be an object or a JSON object string") from None
        if not isinstance(value, dict):
            raise ValueError("must be an object")
        if len(value) > MAX_PROPS:
            raise ValueError(f"at most {MAX_PROPS} properties")
        out = {}
        for key, val in value.items():
            if not isinstance(key, str) or not 0 < len(key) <= MAX_PROP_KEY:
                raise ValueError(f"property names must be 1-{MAX_PROP_KEY} characters")
            if val is None:
                continue
            if isinstance(val, (dict, list)):
                raise ValueError("property values must be scalars")
            text = str(val).lower() if isinstance(val, bool) else str(val)
            out[key] = text[:MAX_PROP_VALUE]
        return out

    @field_validator("i", "h", "g", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("must be a boolean or 0/1")
        return bool(value) if isinstance(value, int) else value

    @field_validator("sd", "e", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        """Browsers compute these: a float or a slightly-off value is clamped, not refused."""
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError("must be a number")
        if value is None:
            return value
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return int(value)

    @field_validator("sd")
    @classmethod
    def _scroll_depth(cls, value: int | None) -> int | None:
        return None if value is None else min(max(value, 0), 100)

    @field_validator("e")
    @classmethod
    def _engaged_ms(cls, value: int | None) -> int | None:
        return None if value is None else min(max(value, 0), MAX_ENGAGED_MS)

    @field_validator("status", "channel")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not _LABEL.match(value):
            raise ValueError("letters, digits, space and _.:- only")
        return value

    @field_validator("cc")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError("must be an ISO 3166-1 alpha-2 code")
        return value.upper() if value else value

    @property
    def kind(self) -> str:
        return kind_of(self.n)


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """pydantic errors as [{field, problem}], never echoing the rejected input (it may be PII)."""
    details = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(part) for part in err["loc"]) or "body"
        details.append({"field": prefix + loc, "problem": err["msg"][:200]})
    return details
