"""The OK and Cancel buttons of the app's small dialogs."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QDialog, QDialogButtonBox


def ok_cancel(dialog: QDialog, accept: Callable[[], None] | None = None) -> QDialogButtonBox:
    """OK and Cancel wired to ``dialog``: OK runs ``accept`` (the dialog's own by default),
    Cancel rejects it. The caller places the box."""
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(accept or dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons
