"""Reads a GraphQL-over-HTTP request (GET parameters, a JSON body or a multipart upload) into a
`GraphQLRequest`, or refuses it with a `RequestError` (400, 415) that names what is wrong.

Nothing here trusts the client: the body must be UTF-8, JSON nesting is bounded (a recursion
bomb is a 400, not a crash), every parameter must have its type, and a multipart `map` may only
put files where the operation has a `null` variable value.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from portal.web.error_bodies import RequestError, bad_request
from portal.web.media_types import parse_header_value

MAX_JSON_DEPTH = 64
"""Nesting levels allowed in a JSON body or parameter; the deepest input of the schema needs
fewer than 10."""
MAX_MULTIPART_FILES = 10
MAX_MULTIPART_FIELDS = 10
DOCUMENT_ID = re.compile(r"^[A-Za-z0-9\-._~:]{1,200}$")
"""GraphQL over HTTP, persisted documents appendix: unreserved characters and colons."""


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """What the client asked for, before the document is looked up or parsed."""

    method: str
    query: str | None
    document_id: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None
    # The JSON body holds no `\u0000`, the only way JSON can spell a NUL (a raw one is invalid
    # JSON): no string of the variables holds one, and they need no walk to tell
    # (`portal.schema.nul_characters`).
    variables_nul_free: bool = False


# orjson refuses a document nested more than ORJSON_DEPTH levels deep: wrapped in
# ORJSON_DEPTH - MAX_JSON_DEPTH arrays, a text parses iff it is valid JSON nested at most
# MAX_JSON_DEPTH levels deep — the parser bounds the depth, with no walk over the parsed value
# (a walk cost about 10 µs per recorded order of a batch). A text with no more brackets than
# MAX_JSON_DEPTH cannot lie deeper and is parsed as it is (the wrapping costs ~60 µs a call).
# tests/unit/test_request_walks.py holds orjson to its limit.
ORJSON_DEPTH = 1024
_WRAPPING = ORJSON_DEPTH - MAX_JSON_DEPTH
_OPEN, _CLOSE = "[" * _WRAPPING, "]" * _WRAPPING


def decode_json(raw: bytes | str, what: str) -> Any:
    """Parses JSON from UTF-8 bytes (or text), refusing bad encodings and deep nesting."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise bad_request(
                "INVALID_UTF8", f"{what} is not valid UTF-8 ({error.reason})"
            ) from None
    if raw.count("[") + raw.count("{") <= MAX_JSON_DEPTH:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            _refuse(raw, what)
    try:
        value = orjson.loads(_OPEN + raw + _CLOSE)
    except orjson.JSONDecodeError:
        _refuse(raw, what)
    # Each wrapping array holds exactly one element, or `raw` was not one JSON value (empty,
    # "1, 2", "1], [2" parse wrapped).
    for _ in range(_WRAPPING):
        if len(value) != 1:
            _refuse(raw, what)
        value = value[0]
    return value


def _refuse(raw: str, what: str) -> NoReturn:
    """The error of a text that did not parse (as it is, or wrapped): its own parse error, or
    (when it parses alone, so only the wrapping took it past orjson's limit) that it is nested
    too deeply."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if "depth" in str(error) or "recursion" in str(error).lower():
            raise _nested_too_deep(what) from None
        raise bad_request("INVALID_JSON", f"{what} is not valid JSON: {error}") from None
    raise _nested_too_deep(what)


def _nested_too_deep(what: str) -> RequestError:
    return bad_request("JSON_TOO_DEEP", f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")


def _optional(params: dict[str, Any], name: str, kind: type, kind_name: str) -> Any:
    value = params.get(name)
    if value is None or isinstance(value, kind):
        return value
    raise bad_request("INVALID_PARAMETER", f"`{name}` must be {kind_name} or null")


def request_from_params(
    method: str, params: Any, source: str, *, variables_nul_free: bool = False
) -> GraphQLRequest:
    """Checks the GraphQL-over-HTTP parameters of a JSON object (body, `operations`)."""
    if isinstance(params, list):
        raise bad_request(
            "BATCHING_NOT_SUPPORTED", "send one operation per request, not a list of them"
        )
    if not isinstance(params, dict):
        raise bad_request("NOT_AN_OBJECT", f"{source} must be a JSON object")
    query = _optional(params, "query", str, "a string")
    document_id = _optional(params, "documentId", str, "a string")
    if query is None and document_id is None:
        raise bad_request("MISSING_QUERY", "send the document as `query` (or a `documentId`)")
    if query is not None and document_id is not None:
        raise bad_request("INVALID_PARAMETER", "send either `query` or `documentId`, not both")
    if document_id is not None and not DOCUMENT_ID.match(document_id):
        raise bad_request(
            "INVALID_PARAMETER", "`documentId` must look like sha256:<64 hexadecimal digits>"
        )
    return GraphQLRequest(
        method=method,
        query=query,
        document_id=document_id,
        operation_name=_optional(params, "operationName", str, "a string") or None,
        variables=_optional(params, "variables", dict, "an object"),
        extensions=_optional(params, "extensions", dict, "an object"),
        variables_nul_free=variables_nul_free,
    )


def _from_query_string(request: Request) -> GraphQLRequest:
    params: dict[str, Any] = {}
    for name in ("query", "documentId", "operationName", "variables", "extensions"):
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise bad_request("INVALID_PARAMETER", f"`{name}` is given more than once")
        if values and values[0] != "":  # GraphQL over HTTP: empty means absent
            params[name] = values[0]
    for name in ("variables", "extensions"):
        if name in params:
            params[name] = decode_json(params[name], f"the `{name}` parameter")
    return request_from_params("GET", params, "the query string")


def _content_type(request: Request) -> tuple[str, dict[str, str]]:
    header = request.headers.get("content-type")
    if not header:
        raise RequestError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "a POST needs `Content-Type: application/json` (or multipart/form-data for uploads)",
        )
    return parse_header_value(header)


async def _read_form(request: Request) -> FormData:
    try:
        return await request.form(max_files=MAX_MULTIPART_FILES, max_fields=MAX_MULTIPART_FIELDS)
    # ValueError: python-multipart's own parse errors (FormParserError).
    except (MultiPartException, HTTPException, ValueError) as error:
        detail = getattr(error, "message", None) or getattr(error, "detail", None) or str(error)
        raise bad_request(
            "INVALID_MULTIPART", f"the multipart body is malformed: {detail}"
        ) from None


def _form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is None:
        raise bad_request("INVALID_MULTIPART", f"the multipart body has no `{name}` field")
    if isinstance(value, UploadFile):
        raise bad_request("INVALID_MULTIPART", f"`{name}` must be a form field, not a file")
    return value


def _place_file(variables: Any, path: str, upload: UploadFile) -> None:
    """Puts a file where `map` says (`variables.input.file`, `variables.files.0`)."""
    keys = path.split(".")
    if len(keys) < 2 or keys[0] != "variables":
        raise bad_request("INVALID_MULTIPART", f"`map` path {path!r} must start with `variables.`")
    target: Any = variables
    for key in keys[1:-1]:
        target = _child(target, key, path)
    last = keys[-1]
    if isinstance(target, dict) and last in target and target[last] is None:
        target[last] = upload
    elif isinstance(target, list) and last.isdigit() and int(last) < len(target):
        if target[int(last)] is not None:
            raise _no_placeholder(path)
        target[int(last)] = upload
    else:
        raise _no_placeholder(path)


def _child(target: Any, key: str, path: str) -> Any:
    if isinstance(target, dict) and key in target:
        return target[key]
    if isinstance(target, list) and key.isdigit() and int(key) < len(target):
        return target[int(key)]
    raise _no_placeholder(path)


def _no_placeholder(path: str) -> RequestError:
    return bad_request(
        "INVALID_MULTIPART", f"`map` path {path!r} does not name a null value in `operations`"
    )


def _from_multipart(form: FormData) -> GraphQLRequest:
    """GraphQL multipart request spec: `operations` (the JSON request with null placeholders),
    `map` (file field -> paths) and the files."""
    operations = decode_json(_form_text(form, "operations"), "the `operations` field")
    parsed = request_from_params("POST", operations, "the `operations` field")
    files_map = decode_json(_form_text(form, "map"), "the `map` field")
    if not isinstance(files_map, dict):
        raise bad_request("INVALID_MULTIPART", "`map` must be a JSON object of file field -> paths")
    files = {name: value for name, value in form.multi_items() if isinstance(value, UploadFile)}
    unmapped = set(files) - set(files_map)
    if unmapped:
        raise bad_request("INVALID_MULTIPART", f"files not named in `map`: {sorted(unmapped)}")
    variables = dict(parsed.variables or {})
    for field, paths in files_map.items():
        if field not in files:
            raise bad_request("INVALID_MULTIPART", f"`map` names a missing file field {field!r}")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise bad_request("INVALID_MULTIPART", f"`map` of {field!r} must be a list of paths")
        for path in paths:
            _place_file(variables, path, files[field])
    return GraphQLRequest(
        method="POST",
        query=parsed.query,
        document_id=parsed.document_id,
        operation_name=parsed.operation_name,
        variables=variables,
        extensions=parsed.extensions,
    )


@contextlib.asynccontextmanager
async def read_graphql_request(request: Request, *, uploads: bool) -> AsyncIterator[GraphQLRequest]:
    """The request's GraphQL parameters; uploaded files stay open until the block ends."""
    if request.method == "GET":
        yield _from_query_string(request)
        return
    media_type, parameters = _content_type(request)
    charset = parameters.get("charset", "utf-8").lower()
    if media_type == "application/json" and charset == "utf-8":
        body = await request.body()
        if not body.strip():
            raise bad_request("MISSING_QUERY", "the request body is empty")
        yield request_from_params(
            "POST",
            decode_json(body, "the request body"),
            "the body",
            variables_nul_free=b"\\u0000" not in body,
        )
    elif media_type == "multipart/form-data" and uploads:
        form = await _read_form(request)
        try:
            yield _from_multipart(form)
        finally:
            await form.close()
    elif media_type == "application/json":
        raise RequestError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"unsupported charset {parameters['charset'][:40]!r} of application/json; send "
            "the body as UTF-8 (`charset=utf-8`, or no charset)",
        )
    else:
        raise RequestError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"unsupported Content-Type {media_type!r}; send application/json"
            + (" (or multipart/form-data for uploads)" if uploads else ""),
        )
