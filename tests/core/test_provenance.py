"""Provenance kinds: model untouched, edited model label, human-drawn, verified, imported."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import shapely

from roadmark.core.annotation import AnnotationObject, Provenance
from roadmark.core.provenance import DRAWN, EDITED, IMPORTED, MODEL, VERIFIED, provenance_kind

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _obj(source: str) -> AnnotationObject:
    return AnnotationObject(7, shapely.box(0, 0, 4, 4), Provenance.new(source, "ann", at=T0))


def test_kinds():
    model = _obj("model:seg")
    assert provenance_kind(model) == MODEL
    edited = replace(model, provenance=model.provenance.touched("ann", at=T0 + timedelta(1)))
    assert provenance_kind(edited) == EDITED
    other = replace(model, provenance=replace(model.provenance, updated_by="bob"))
    assert provenance_kind(other) == EDITED
    assert provenance_kind(_obj("human")) == DRAWN
    assert provenance_kind(_obj("import:coco")) == IMPORTED
    checked = replace(edited, provenance=replace(edited.provenance, verified=True))
    assert provenance_kind(checked) == VERIFIED
