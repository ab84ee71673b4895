"""Every refusal of the HTTP application in one shape: RFC 9457 problem details, served as
application/problem+json. `type` names the problem (urn:govshare:problem:<rule>), `title` says
it in a few words, `status` repeats the HTTP status, `detail` is the one sentence saying what is
wrong with this request, `instance` the path asked for; `rule` (an extension member) is the
rule broken, as the CLI and the verdicts name rules. A problem may carry more members: the
per-line `results` of a submission refused whole, say."""
from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:govshare:problem:"


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, with the govshare rule broken."""
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str = Field(description="a URI naming the problem: urn:govshare:problem:<rule>",
                      examples=["urn:govshare:problem:body-too-large"])
    title: str = Field(description="the problem in a few words; the same for every occurrence",
                       examples=["Body too large"])
    status: int = Field(description="the HTTP status of the answer", examples=[413])
    detail: str = Field(description="what is wrong with this request, in one sentence")
    instance: str = Field(description="the path asked for", examples=["/v1/events"])
    rule: str = Field(description="the rule broken", examples=["body-too-large"])


_ACRONYMS = {"json": "JSON", "url": "URL", "http": "HTTP", "api": "API"}


def title(rule: str) -> str:
    """`body-too-large` -> "Body too large", `malformed-json` -> "Malformed JSON"."""
    words = [_ACRONYMS.get(w, w) for w in rule.split("-") if w]
    if not words:
        return "Problem"
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def problem(instance: str, status: int, rule: str, detail: str, *, headers: dict[str, str] | None = None,
            **extensions: Any) -> JSONResponse:
    body = {"type": TYPE_PREFIX + rule, "title": title(rule), "status": status, "detail": detail,
            "instance": instance, "rule": rule, **extensions}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def responses(*statuses: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` naming each status as a ProblemDetails, for a route's declaration."""
    shown = {400: "the body or a parameter cannot be read", 401: "no token, or one unknown or revoked",
             403: "the token may not do this", 404: "no such thing, or not the caller's to see",
             413: "the body or the batch is larger than the limit", 415: "the body is not JSON",
             422: "a parameter or the body is not valid", 429: "the token's rate limit is spent: see Retry-After",
             503: "the projections or the broker cannot be reached", **(described or {})}
    return {status: answer(shown.get(status, "refused")) for status in statuses}


def answer(description: str) -> dict[str, Any]:
    """One OpenAPI response: a ProblemDetails as application/problem+json (the schema is added
    to the document's components by web/app.py)."""
    return {"description": description, "content": {MEDIA_TYPE: {"schema": {"$ref": REF}}}}


REF = "#/components/schemas/ProblemDetails"
