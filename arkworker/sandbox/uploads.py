"""The sandbox's object store: URLs it signs on itself, as S3 signs them for Arkindex.

Arkindex answers a worker URLs signed for one object, and the worker sends the bytes
there, not to the API: the ``s3_put_url`` of a model version (0.3.7 era), the URL of each
part of a multipart upload (today); ``s3_url`` downloads an available version. The sandbox
plays that store at ``<sandbox>/upload/<key>``:

* a URL is good for one object and one method: its random ``key`` stands for the signature
  (:func:`sign`); an unknown key, or another method, is S3's 403;
* a ``PUT`` stores its body whole (S3 replaces the object) and answers 200 with the MD5 of
  the bytes as ``ETag``. It needs a ``Content-Length`` (411 without, as S3) of at most
  :data:`MAX_OBJECT_SIZE` bytes; a ``Content-MD5`` that does not match the bytes, or bytes
  that do not match the MD5 the URL was signed for, are S3's 400 ``BadDigest``; an
  ``Authorization`` header is a 400, as S3 refuses a second authentication (so a worker that
  would hand its API token to the store fails its tests);
* a ``GET`` answers the object.

Errors are S3's XML documents. Objects live in the state's SQLite file
(:class:`StoredObject`), so a reset drops them with the rest, and a state file keeps them.
The route is the fault target :data:`~arkworker.sandbox.faults.UPLOAD` (``"upload"``): a
``reset`` cuts the connection while the worker is still sending, an ``error`` answers a 5xx,
as a flaky object store does. Nothing here holds the store's lock while bytes travel.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from xml.sax.saxutils import escape

from peewee import BlobField, CharField, IntegerField
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from arkworker.sandbox.store import BaseModel, Store, now, register

#: Where the object store is served.
PREFIX = "/upload/"
#: The largest object a PUT may store (1 GiB; S3 takes 5 GiB in one PUT, but the sandbox keeps
#: objects in its SQLite file and reads a body whole).
MAX_OBJECT_SIZE = 1 << 30
_BLOCK = 1 << 20


@register
class StoredObject(BaseModel):
    """An object of the store, by name (``model_versions/<id>``, ``multipart/<upload>/<part>``)."""

    name = CharField(primary_key=True)
    data = BlobField()
    size = IntegerField()
    #: The MD5 of ``data`` in hexadecimal: the object's ETag.
    md5 = CharField()
    content_type = CharField(default="application/octet-stream")
    created = CharField(default=now)

    class Meta:
        table_name = "stored_objects"


@register
class SignedUrl(BaseModel):
    """A URL signed for one method on one object; ``content_md5`` (base64): the bytes it takes."""

    key = CharField(primary_key=True)
    method = CharField()
    object_name = CharField()
    content_md5 = CharField(null=True)

    class Meta:
        table_name = "signed_urls"


# -- what the handlers use (inside a store session) ---------------------------------------------


def sign(method: str, object_name: str, content_md5: str | None = None) -> str:
    """A new key for ``method`` on ``object_name``; its URL is :func:`url_of`."""
    key = secrets.token_urlsafe(24)
    SignedUrl.create(key=key, method=method, object_name=object_name, content_md5=content_md5)
    return key


def url_of(base_url: str, key: str) -> str:
    """The URL of a signed key, on the sandbox the client reached (``Call.base_url``)."""
    return f"{base_url.rstrip('/')}{PREFIX}{key}"


def find_object(name: str) -> StoredObject | None:
    return StoredObject.get_or_none(StoredObject.name == name)


def put_object(name: str, data: bytes, content_type: str) -> StoredObject:
    """Store ``data`` as ``name``, replacing what was there."""
    StoredObject.replace(
        name=name,
        data=data,
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        content_type=content_type,
        created=now(),
    ).execute()
    return StoredObject.get(StoredObject.name == name)


def delete_objects(prefix: str) -> None:
    """Remove the objects whose names start with ``prefix``, and every URL signed for them."""
    StoredObject.delete().where(StoredObject.name.startswith(prefix)).execute()
    SignedUrl.delete().where(SignedUrl.object_name.startswith(prefix)).execute()


# -- the route ----------------------------------------------------------------------------------


def _error(status: int, code: str, message: str) -> Response:
    """An S3 error document."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>\n"
    )
    return Response(body, status=status, content_type="application/xml")


class ObjectStore:
    """Answers the requests of ``<sandbox>/upload/<key>`` from a store's objects."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def respond(self, request: Request) -> Response:
        if "Authorization" in request.headers:
            return _error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed: a signed URL takes no Authorization header "
                "(do not send the API token to the object store)",
            )
        key = request.path[len(PREFIX) :]
        with self.store.session():
            signed = SignedUrl.get_or_none(SignedUrl.key == key)
            found = None if signed is None else (signed.method, signed.object_name, signed.content_md5)
        if found is None:
            return _error(403, "AccessDenied", "This URL was not signed by the sandbox, or no longer is")
        method, name, content_md5 = found
        if request.method != method:
            return _error(
                403, "SignatureDoesNotMatch", f"This URL is signed for {method}, not {request.method}"
            )
        if method == "PUT":
            return self._put(request, name, content_md5)
        return self._get(name)

    def _put(self, request: Request, name: str, signed_md5: str | None) -> Response:
        length = request.content_length
        if length is None:
            return _error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if length > MAX_OBJECT_SIZE:
            return _error(
                400, "EntityTooLarge", f"The sandbox stores objects of at most {MAX_OBJECT_SIZE} bytes"
            )
        try:
            data = _read(request, length)
        except (OSError, HTTPException):  # the client went away in the middle of its body
            data = b""
        if len(data) != length:
            return _error(
                400,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
            )
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        given = request.headers.get("Content-MD5")
        if (given is not None and given != md5) or (signed_md5 is not None and signed_md5 != md5):
            return _error(400, "BadDigest", "The Content-MD5 you specified did not match what was received.")
        content_type = request.headers.get("Content-Type") or "application/octet-stream"
        with self.store.session():
            stored = put_object(name, data, content_type)
            etag = stored.md5
        return Response(status=200, headers=[("ETag", f'"{etag}"')])

    def _get(self, name: str) -> Response:
        with self.store.session():
            stored = find_object(name)
            found: tuple[Any, ...] | None = (
                None if stored is None else (bytes(stored.data), stored.content_type, stored.md5)
            )
        if found is None:
            return _error(404, "NoSuchKey", "The specified key does not exist.")
        data, content_type, etag = found
        return Response(data, status=200, content_type=content_type, headers=[("ETag", f'"{etag}"')])


def _read(request: Request, length: int) -> bytes:
    chunks, size = [], 0
    while size < length and (chunk := request.stream.read(min(_BLOCK, length - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
