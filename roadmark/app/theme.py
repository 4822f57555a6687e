"""The application's look: Qt's Fusion style with a dark palette (images read better on a
dark surround, and it is what annotation tools are expected to look like)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QDockWidget::title { padding: 4px 6px; background: #2b2e34; }
QToolBar { spacing: 2px; padding: 2px; border: none; }
QToolButton { padding: 3px 8px; border-radius: 3px; }
QToolButton:checked { background: #3d6fb6; color: white; }
QToolButton:hover:!checked { background: #3a3e46; }
QStatusBar QLabel { padding: 0 6px; }
QTreeView, QListView { border: none; }
QCheckBox::indicator, QTreeView::indicator, QListView::indicator {
    width: 13px; height: 13px; border: 1px solid #6a707a; border-radius: 2px;
    background: #1c1e22; }
QCheckBox::indicator:checked, QTreeView::indicator:checked, QListView::indicator:checked {
    background: #3d6fb6; border-color: #5b8fd8; image: none; }
QHeaderView::section { background: #2b2e34; padding: 2px 4px; border: none;
                       border-right: 1px solid #3a3e46; }
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style, dark palette, and a few style-sheet touches."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: QColor(37, 40, 45),
        QPalette.ColorRole.WindowText: QColor(220, 222, 226),
        QPalette.ColorRole.Base: QColor(28, 30, 34),
        QPalette.ColorRole.AlternateBase: QColor(33, 36, 41),
        QPalette.ColorRole.ToolTipBase: QColor(50, 54, 60),
        QPalette.ColorRole.ToolTipText: QColor(230, 230, 230),
        QPalette.ColorRole.Text: QColor(220, 222, 226),
        QPalette.ColorRole.Button: QColor(45, 48, 54),
        QPalette.ColorRole.ButtonText: QColor(220, 222, 226),
        QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Link: QColor(100, 160, 240),
        QPalette.ColorRole.Highlight: QColor(61, 111, 182),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(130, 134, 140),
        # Fusion draws frames and check boxes with these.
        QPalette.ColorRole.Light: QColor(78, 82, 90),
        QPalette.ColorRole.Midlight: QColor(62, 66, 72),
        QPalette.ColorRole.Mid: QColor(54, 58, 64),
        QPalette.ColorRole.Dark: QColor(22, 24, 27),
        QPalette.ColorRole.Shadow: QColor(10, 10, 12),
    }
    for role, color in roles.items():
        palette.setColor(role, color)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 114, 120))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)
