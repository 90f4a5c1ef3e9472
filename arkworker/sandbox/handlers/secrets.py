"""Secrets: RetrieveSecret.

Secret names may contain ``/`` (``path/to/file.json``); the client escapes it as ``%2F``,
which the server decodes before routing, and the route takes the rest of the path.
"""

from __future__ import annotations

from typing import Any

from peewee import CharField, TextField

from arkworker.sandbox.handlers.base import Call, handles, not_found
from arkworker.sandbox.store import BaseModel, UUIDKey, register


@register
class Secret(BaseModel):
    id = UUIDKey()
    name = CharField(unique=True)
    content = TextField()

    class Meta:
        table_name = "secrets"


@handles("RetrieveSecret")
def retrieve_secret(call: Call) -> dict[str, Any]:
    secret = Secret.get_or_none(Secret.name == call.path["name"])
    if secret is None:
        raise not_found("Secret")
    return {"id": secret.id, "name": secret.name, "content": secret.content}
