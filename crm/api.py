"""The JSON API (/api/v1/, django-ninja): records, properties and form submissions,
authenticated by bearer tokens that super admins create in Settings > API tokens.

Every change goes through crm.services, and a form submission through
crm.submissions, exactly like the UI and the public form page, so workflows see API
changes too. Errors:
  401 missing, unknown or revoked token · 404 not in the token's account ·
  400 refused values: {"detail": "...", "errors": {"<property>": ["<message>"]}}, the
  messages the UI shows · 422 a body that does not match the schema (django-ninja).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Path, Schema, Status
from ninja.errors import HttpError
from ninja.security import HttpBearer

from crm import filters, services
from crm.access import account_for, form_for, record_for
from crm.ids import MAX_ID
from crm.models import ApiToken, Form, FormSubmission, ObjectType, Record
from crm.submissions import client_ip, form_submission_create, submission_form_class

ObjectSlug = Literal["contacts", "companies", "deals", "tickets"]
# Beyond this an integer is no CRM value, and turning it into text is refused by Python.
MAX_ABS_INT = 10**30


class BearerToken(HttpBearer):
    """A live token authenticates the request; `crm.access.account_for` then answers
    with the token's account, so the API loads objects with the views' own loaders."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = ApiToken.objects.authenticate(token)
        if api_token is not None:
            _rate_check(f"token:{api_token.pk}")
            if not (api_token.can_write or _reads_only(request)):
                raise HttpError(
                    403,
                    _(
                        "This token is read-only. Create a read-and-write token in "
                        "Settings > API tokens to make changes."
                    ),
                )
            api_token.touch()
            request.api_token = api_token
        else:
            # Guessing tokens is rate-limited per client address.
            _rate_check(f"ip:{request.META.get('REMOTE_ADDR', '')}")
        return api_token


def _reads_only(request: HttpRequest) -> bool:
    """What a read-only token may do: GET, and POST to a search (a body of filters)."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return True
    return request.method == "POST" and request.path.endswith("/search")


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


def _rate_check(who: str) -> None:
    """Count a request of `who` in the current minute; over API_RATE_LIMIT_PER_MINUTE,
    raise RateLimited with the seconds left in the minute (a shared cache in
    production: Redis)."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    now = time.time()
    window = int(now // 60)
    key = f"api:rate:{who}:{window}"
    cache.add(key, 0, timeout=70)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=70)
        count = 1
    if count > limit:
        raise RateLimited(max(1, int((window + 1) * 60 - now) + 1))


api = NinjaAPI(
    title="crmflow API",
    version="1",
    description=(
        "Create, update, read and search CRM records, list properties and submit forms. "
        "Authenticate with `Authorization: Bearer <token>`; super admins create tokens "
        "in Settings > API tokens."
    ),
    urls_namespace="api",
    auth=BearerToken(),
)


@api.exception_handler(RateLimited)
def rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = api.create_response(
        request,
        {
            "detail": _(
                "Too many requests: the limit is %(limit)d a minute. "
                "Retry after %(seconds)d seconds."
            )
            % {"limit": settings.API_RATE_LIMIT_PER_MINUTE, "seconds": exc.retry_after},
            "errors": {},
        },
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 with a message, not a 400 page."""
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    return api.create_response(
        request,
        {
            "detail": _("The request body is over %(size)s MB; send less data per request.")
            % {"size": f"{limit_mb:g}"},
            "errors": {},
        },
        status=413,
    )


# --- Schemas ------------------------------------------------------------------------


class ErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]] = {}


class RecordIn(Schema):
    properties: dict[str, Any] = Field(
        ...,
        description="Property name → value, typed as in the UI; null clears a value.",
        examples=[{"email": "ana@example.com", "first_name": "Ana"}],
    )


class RecordOut(Schema):
    id: int
    object_type: str
    properties: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class SearchIn(Schema):
    filters: list[list[dict[str, Any]]] = Field(
        default=[],
        description="OR of AND groups, as in workflow criteria: "
        '[[{"property": "state", "operator": "eq_any", "values": ["CA"]}]].',
    )
    limit: int = Field(20, ge=1, le=100)
    after: int | None = Field(
        None, ge=0, le=MAX_ID, description="`next_after` of the previous page."
    )


class SearchOut(Schema):
    results: list[RecordOut]
    next_after: int | None = Field(
        None, description="Pass as `after` for the next page; null on the last."
    )


class PropertyOut(Schema):
    name: str
    label: str
    type: str
    options: list[dict[str, Any]]
    description: str
    is_standard: bool


class FormFieldOut(Schema):
    key: str
    label: str
    required: bool
    property: str | None


class FormOut(Schema):
    id: int
    name: str
    is_active: bool
    fields: list[FormFieldOut]


class SubmissionIn(Schema):
    answers: dict[str, Any] = Field(
        ...,
        description="Field key → answer, the keys listed by GET /forms.",
        examples=[{"email": "ana@example.com", "looking_for": "A CRM for 20 people"}],
    )


class SubmissionOut(Schema):
    id: int
    form_id: int
    record_id: int | None
    created_contact: bool
    created_at: dt.datetime


# --- Helpers ------------------------------------------------------------------------


def _token(request: HttpRequest) -> ApiToken:
    return request.auth


def _object_type(slug: str) -> str:
    return ObjectType.from_slug(slug).value


def _record_out(record: Record) -> dict[str, Any]:
    return {
        "id": record.pk,
        "object_type": record.object_type,
        "properties": record.properties,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _refused(error: ValidationError) -> Status:
    if hasattr(error, "error_dict"):
        return Status(400, {"detail": _("Some values were refused."), "errors": error.message_dict})
    return Status(400, {"detail": " ".join(error.messages), "errors": {}})


def _check_json(value: Any, path: str = "") -> None:
    """Refuse what no database stores: NUL characters, lone surrogates, huge integers."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError({path or "body": [_("Text cannot contain the NUL character.")]})
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError({path or "body": [_("Text must be valid Unicode.")]}) from None
    elif isinstance(value, bool):
        return
    elif isinstance(value, int) and abs(value) >= MAX_ABS_INT:
        raise ValidationError({path or "body": [_("This number is too large.")]})
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, path)
            _check_json(item, str(key))
    elif isinstance(value, list):
        for item in value:
            _check_json(item, path)


# --- Endpoints ----------------------------------------------------------------------


@api.get("/properties/{object_type}", response=list[PropertyOut], tags=["properties"])
def property_list(request: HttpRequest, object_type: ObjectSlug):
    """The properties of an object type, standard ones first."""
    definitions = services.definitions_for(account_for(request), _object_type(object_type))
    return sorted(definitions.values(), key=lambda d: (not d.is_standard, d.position, d.label))


@api.post("/objects/{object_type}", response={201: RecordOut, 400: ErrorOut}, tags=["records"])
def record_create(request: HttpRequest, object_type: ObjectSlug, payload: RecordIn):
    token = _token(request)
    try:
        _check_json(payload.properties)
        record = services.record_create(
            account=account_for(request),
            object_type=_object_type(object_type),
            values=payload.properties,
            actor=token.created_by,
            source="api",
        )
    except ValidationError as error:
        return _refused(error)
    return Status(201, _record_out(record))


@api.get(
    "/objects/{object_type}/{int:record_id}",
    response={200: RecordOut, 404: ErrorOut},
    tags=["records"],
)
def record_get(
    request: HttpRequest, object_type: ObjectSlug, record_id: int = Path(..., ge=1, le=MAX_ID)
):
    return _record_out(record_for(request, record_id, slug=object_type))


@api.patch(
    "/objects/{object_type}/{int:record_id}",
    response={200: RecordOut, 400: ErrorOut, 404: ErrorOut},
    tags=["records"],
)
def record_update(
    request: HttpRequest,
    object_type: ObjectSlug,
    payload: RecordIn,
    record_id: int = Path(..., ge=1, le=MAX_ID),
):
    """Set the given properties; the others keep their values."""
    token = _token(request)
    record = record_for(request, record_id, slug=object_type)
    try:
        _check_json(payload.properties)
        services.record_update(
            record=record, values=payload.properties, actor=token.created_by, source="api"
        )
    except ValidationError as error:
        return _refused(error)
    record.refresh_from_db()
    return _record_out(record)


@api.post(
    "/objects/{object_type}/search",
    response={200: SearchOut, 400: ErrorOut},
    tags=["records"],
)
def record_search(request: HttpRequest, object_type: ObjectSlug, payload: SearchIn):
    """Records matching the filters, by id ascending, one page at a time."""
    account = account_for(request)
    kind = _object_type(object_type)
    try:
        _check_json(payload.filters, "filters")
        groups = filters.parse_groups(services.definitions_for(account, kind), payload.filters)
    except ValidationError as error:
        if not hasattr(error, "error_dict"):
            error = ValidationError({"filters": error.messages})
        return _refused(error)
    records = Record.objects.filter(account=account, object_type=kind).filter(
        filters.groups_q(groups)
    )
    if payload.after is not None:
        records = records.filter(pk__gt=payload.after)
    page = list(records.order_by("pk")[: payload.limit + 1])
    more = len(page) > payload.limit
    page = page[: payload.limit]
    return {
        "results": [_record_out(record) for record in page],
        "next_after": page[-1].pk if more else None,
    }


@api.get("/forms", response=list[FormOut], tags=["forms"])
def form_list(request: HttpRequest):
    forms = Form.objects.filter(account=account_for(request)).order_by("-created_at")
    return [
        {
            "id": form.pk,
            "name": form.name,
            "is_active": form.is_active,
            "fields": [
                {
                    "key": f.key,
                    "label": f.label,
                    "required": f.required,
                    "property": f.property.name if f.property else None,
                }
                for f in form.fields_in_order()
            ],
        }
        for form in forms
    ]


@api.post(
    "/forms/{int:form_id}/submissions",
    response={201: SubmissionOut, 400: ErrorOut, 404: ErrorOut},
    tags=["forms"],
)
def form_submit(
    request: HttpRequest, payload: SubmissionIn, form_id: int = Path(..., ge=1, le=MAX_ID)
):
    """Submit a form as a visitor would: creates or updates the contact by email."""
    form = form_for(request, form_id)
    if not form.is_active:
        return Status(400, {"detail": _("This form is not accepting submissions."), "errors": {}})
    try:
        _check_json(payload.answers)
    except ValidationError as error:
        return _refused(error)
    submission_form = submission_form_class(form.fields_in_order())(data=payload.answers)
    if not submission_form.is_valid():
        return Status(
            400,
            {
                "detail": _("Some answers were refused."),
                "errors": {key: list(errors) for key, errors in submission_form.errors.items()},
            },
        )
    try:
        submission = form_submission_create(
            form=form,
            answers=submission_form.cleaned_data,
            source=FormSubmission.Source.API,
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except ValidationError as error:
        return _refused(error)
    return Status(
        201,
        {
            "id": submission.pk,
            "form_id": form.pk,
            "record_id": submission.record_id,
            "created_contact": submission.created_contact,
            "created_at": submission.created_at,
        },
    )


def api_urls() -> tuple[list[URLPattern], str, str]:
    """The API's URL patterns, open to LoginRequiredMiddleware: the API authenticates
    by bearer token, and the schema and docs are public."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback.login_required = False
    return patterns, app_name, namespace
