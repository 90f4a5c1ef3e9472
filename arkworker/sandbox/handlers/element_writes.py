"""Writing elements: CreateElementType, CreateElement, CreateElements, CreateElementParent, PartialUpdateElement,
CreateElementChildren (``current`` API level: several existing elements linked to a parent).

Kept apart from the element listings (:mod:`.elements`) so each module reads in one sitting.
As in Arkindex, a type must exist in the element's corpus, a polygon lies on an image (the
element's own, or its parent's) and inside it, and element links never form a cycle.
"""

from __future__ import annotations

from typing import Any

from arkworker.sandbox.handlers.base import (
    ApiError,
    Call,
    Reply,
    Rule,
    ValidationFailed,
    check_value,
    error_entry,
    handles,
    invalid,
    lookup,
    unknown_pk,
    validate,
    validate_list,
)
from arkworker.sandbox.handlers.elements import (
    add_element,
    check_type,
    clean_polygon,
    link,
    parent_ids,
    serialize_element,
    serialize_element_type,
)
from arkworker.sandbox.handlers.process import made_by
from arkworker.sandbox.store import new_id
from arkworker.sandbox.tables import Corpus, Element, ElementPath, ElementType, Image


@handles("CreateElementType")
def create_element_type(call: Call) -> Reply:
    data = validate(
        call.body,
        {
            "slug": Rule("str"),
            "display_name": Rule("str"),
            "folder": Rule("bool", required=False, default=False),
            "corpus": Rule("uuid"),
        },
    )
    lookup(Corpus, data["corpus"], ["corpus"])
    if (
        ElementType.select()
        .where((ElementType.corpus == data["corpus"]) & (ElementType.slug == data["slug"]))
        .exists()
    ):
        raise invalid(f"An element type with slug {data['slug']!r} already exists in this corpus.", ["slug"])
    created = ElementType.create(id=new_id(), **data)
    return Reply({**serialize_element_type(created), "corpus": created.corpus_id}, status=201)


@handles("CreateElement")
def create_element(call: Call) -> Reply:
    data = validate(
        call.body,
        {
            "type": Rule("str"),
            "name": Rule("str"),
            "corpus": Rule("uuid"),
            "parent": Rule("uuid", required=False, null=True),
            "image": Rule("uuid", required=False, null=True),
            "polygon": Rule("list", required=False, null=True),
            "worker_run_id": Rule("uuid", required=False, null=True),
            "confidence": Rule("float", required=False, null=True, minimum=0, maximum=1),
        },
    )
    lookup(Corpus, data["corpus"], ["corpus"])
    check_type(data["corpus"], data["type"], ["type"])
    parent = None
    if data["parent"] is not None:
        parent = lookup(Element, data["parent"], ["parent"])
        if parent.corpus_id != data["corpus"]:
            raise invalid("The parent element is in another corpus.", ["parent"])
    image = None
    if data["image"] is not None:
        image = lookup(Image, data["image"], ["image"])
    elif data["polygon"] is not None and parent is not None:
        image = parent.image
    polygon = None
    if data["polygon"] is not None:
        if image is None:
            raise invalid("A polygon needs an image: give image, or a parent that has one.", ["polygon"])
        polygon = clean_polygon(data["polygon"], ["polygon"], image)
    elif image is not None:
        polygon = [[0, 0], [0, image.height], [image.width, image.height], [image.width, 0], [0, 0]]
    element = add_element(
        parent,
        corpus=data["corpus"],
        type=data["type"],
        name=data["name"],
        image=image.id if image else None,
        polygon=polygon,
        confidence=data["confidence"],
        **made_by(data["worker_run_id"]),
    )
    return Reply(serialize_element(element, call.base_url), status=201)


@handles("CreateElements")
def create_elements(call: Call) -> Reply:
    parent = lookup(Element, call.path["id"])
    data = validate(call.body, {"worker_run_id": Rule("uuid"), "elements": Rule("list")})
    items = validate_list(
        data["elements"],
        "elements",
        {
            "name": Rule("str"),
            "type": Rule("str"),
            "polygon": Rule("list"),
            "confidence": Rule("float", required=False, null=True, minimum=0, maximum=1),
        },
    )
    image = parent.image
    if image is None:
        raise invalid("The parent element has no image: its children are placed on it.", None)
    for index, item in enumerate(items):
        check_type(parent.corpus_id, item["type"], ["elements", index, "type"])
        item["polygon"] = clean_polygon(item["polygon"], ["elements", index, "polygon"], image)
    provenance = made_by(data["worker_run_id"])
    created = [
        add_element(parent, corpus=parent.corpus_id, image=image.id, **provenance, **item) for item in items
    ]
    return Reply([{"id": element.id} for element in created], status=201)


@handles("CreateElementParent")
def create_element_parent(call: Call) -> Reply:
    child = lookup(Element, call.path["child"])
    parent = lookup(Element, call.path["parent"])
    if child.corpus_id != parent.corpus_id:
        raise invalid("Both elements must be in the same corpus.", ["parent"])
    if parent.id == child.id or child.id in parent_ids(parent.id, recursive=True):
        raise invalid(f"Element {parent.id} cannot be a parent of its own ancestor {child.id}.", ["parent"])
    if (
        ElementPath.select()
        .where((ElementPath.parent == parent.id) & (ElementPath.child == child.id))
        .exists()
    ):
        raise ApiError(
            400,
            "validation_error",
            [error_entry(f"{parent.id} is already a parent of {child.id}.", "unique")],
        )
    link(parent.id, child.id)
    return Reply({"parent": parent.id, "child": child.id}, status=201)


@handles("CreateElementChildren")
def create_element_children(call: Call) -> Reply:
    parent = lookup(Element, call.path["id"])
    data = validate(call.body, {"children": Rule("list")})
    if not data["children"]:
        raise invalid("This list may not be empty.", ["children"], "empty")
    ancestors = {parent.id, *parent_ids(parent.id, recursive=True)}
    linked = {path.child_id for path in ElementPath.select().where(ElementPath.parent == parent.id)}
    children: list[str] = []
    errors = []
    for index, value in enumerate(data["children"]):
        attr: list[str | int] = ["children", index]
        cleaned, problem = check_value(value, Rule("uuid"))
        if problem is not None:
            errors.append(error_entry(problem[1], problem[0], attr))
            continue
        child = Element.get_or_none(Element.id == cleaned)
        if child is None:
            errors.append(unknown_pk(cleaned, attr).body["errors"][0])
        elif child.corpus_id != parent.corpus_id:
            errors.append(error_entry("The child element is in another corpus.", "invalid", attr))
        elif child.id in ancestors:
            detail = f"Element {parent.id} cannot be a parent of its own ancestor {child.id}."
            errors.append(error_entry(detail, "invalid", attr))
        elif child.id in children:
            errors.append(error_entry(f"Element {child.id} is given twice.", "unique", attr))
        elif child.id in linked:
            errors.append(error_entry(f"{parent.id} is already a parent of {child.id}.", "unique", attr))
        else:
            children.append(child.id)
    if errors:
        raise ValidationFailed(errors)
    for child_id in children:
        link(parent.id, child_id)
    return Reply({"children": children}, status=201)


@handles("PartialUpdateElement")
def partial_update_element(call: Call) -> dict[str, Any]:
    element = lookup(Element, call.path["id"])
    rules = {
        "type": Rule("str", required=False),
        "name": Rule("str", required=False),
        "polygon": Rule("list", required=False),
        "confidence": Rule("float", required=False, null=True, minimum=0, maximum=1),
        "rotation_angle": Rule("int", required=False, minimum=0, maximum=359),
        "mirrored": Rule("bool", required=False),
        "image": Rule("uuid", required=False),
    }
    data = {key: value for key, value in validate(call.body, rules).items() if key in call.body}
    if "type" in data:
        check_type(element.corpus_id, data["type"], ["type"])
    if "image" in data:
        lookup(Image, data["image"], ["image"])
    if "polygon" in data:
        image = Image.get_or_none(Image.id == data.get("image", element.image_id))
        if image is None:
            raise invalid("A polygon needs an image: give image too.", ["polygon"])
        data["polygon"] = clean_polygon(data["polygon"], ["polygon"], image)
    if data:
        Element.update(**data).where(Element.id == element.id).execute()
    return serialize_element(lookup(Element, element.id), call.base_url)
