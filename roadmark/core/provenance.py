"""Where a label stands between the model and a person: the provenance kinds shown in the
objects dock and its filter.

- ``model``: accepted from a model (source ``model:NAME``) and not touched since;
- ``edited``: a model label a person has changed (moved, reshaped, relabeled);
- ``human``: drawn by a person;
- ``verified``: a person has checked it (whatever its source);
- ``imported``: brought in from a dataset (source ``import:FORMAT``), not checked.
"""

from __future__ import annotations

from roadmark.core.annotation import HUMAN, AnnotationObject

MODEL = "model"
EDITED = "edited"
DRAWN = "human"
VERIFIED = "verified"
IMPORTED = "imported"
KINDS = (MODEL, EDITED, DRAWN, VERIFIED, IMPORTED)
KIND_TEXT = {
    MODEL: "model, untouched",
    EDITED: "model, edited by a person",
    DRAWN: "drawn by a person",
    VERIFIED: "verified by a person",
    IMPORTED: "imported",
}


def provenance_kind(obj: AnnotationObject) -> str:
    """One of :data:`KINDS` for an object (see the module doc)."""
    prov = obj.provenance
    if prov.verified:
        return VERIFIED
    if prov.is_model:
        edited = prov.updated_at > prov.created_at or prov.updated_by != prov.created_by
        return EDITED if edited else MODEL
    if prov.source == HUMAN:
        return DRAWN
    return IMPORTED
