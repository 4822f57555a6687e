"""The label schema as rows: the ``labels`` table and the ``schema_*`` keys of ``meta``.

Labels are updated in place (objects reference their ids), new ones inserted, unused ones
removed; reading checks every stored value (:mod:`roadmark.io.rows`).
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from roadmark.core.schema import AttributeSpec, Label, LabelSchema
from roadmark.io import tables as t
from roadmark.io.rows import label_attributes, label_color


def write_schema(conn: sa.Connection, schema: LabelSchema) -> None:
    """Store ``schema`` as the label table and the ``schema_*`` meta keys."""
    # Labels are updated in place (objects reference their ids), new ones inserted,
    # unused ones removed.
    existing = set(conn.execute(sa.select(t.labels.c.id)).scalars())
    rows = [
        {
            "id": label.id,
            "position": position,
            "name": label.name,
            "train_id": label.train_id,
            "category": label.category,
            "category_id": label.category_id,
            "has_instances": label.has_instances,
            "ignore_in_eval": label.ignore_in_eval,
            "color": label.hex_color,
            "attributes": json.dumps(list(label.attributes)),
            "shortcut": label.shortcut,
        }
        for position, label in enumerate(schema.labels)
    ]
    # Rename through a temporary name so swapping two labels' names cannot collide.
    for row in rows:
        if row["id"] in existing:
            conn.execute(
                t.labels.update()
                .where(t.labels.c.id == row["id"])
                .values(name=f"\x01roadmark-rename-{row['id']}")
            )
    for row in rows:
        if row["id"] in existing:
            conn.execute(t.labels.update().where(t.labels.c.id == row["id"]).values(**row))
        else:
            conn.execute(t.labels.insert().values(**row))
    stale = existing - {row["id"] for row in rows}
    if stale:
        conn.execute(t.labels.delete().where(t.labels.c.id.in_(stale)))
    header = {
        "schema_name": schema.name,
        "schema_description": schema.description,
        "schema_attributes": json.dumps(
            {name: spec.to_dict() for name, spec in schema.attributes.items()}
        ),
    }
    for key, value in header.items():
        if not conn.execute(
            t.meta.update().where(t.meta.c.key == key).values(value=value)
        ).rowcount:
            conn.execute(t.meta.insert().values(key=key, value=value))


def read_schema(conn: sa.Connection, location: str | None) -> LabelSchema:
    """The label schema that :func:`write_schema` stored, every label row checked.

    Raises:
        ProjectError: A stored label row does not parse.
    """
    label_rows = conn.execute(sa.select(t.labels).order_by(t.labels.c.position)).mappings().all()
    header = dict(
        conn.execute(
            sa.select(t.meta.c.key, t.meta.c.value).where(t.meta.c.key.like("schema_%"))
        ).all()
    )
    raw_attributes = json.loads(header.get("schema_attributes", "{}"))
    attributes = {
        name: AttributeSpec(
            name=name,
            type=spec.get("type", "bool"),
            default=spec.get("default", False),
            choices=tuple(spec.get("choices", ())),
            description=spec.get("description", ""),
        )
        for name, spec in raw_attributes.items()
    }
    labels = tuple(
        Label(
            name=row["name"],
            id=row["id"],
            train_id=row["train_id"],
            category=row["category"],
            category_id=row["category_id"],
            has_instances=bool(row["has_instances"]),
            ignore_in_eval=bool(row["ignore_in_eval"]),
            color=label_color(row, location),
            attributes=label_attributes(row, location),
            shortcut=row["shortcut"],
        )
        for row in label_rows
    )
    return LabelSchema(
        name=header.get("schema_name", "custom"),
        labels=labels,
        attributes=attributes,
        description=header.get("schema_description", ""),
    )
