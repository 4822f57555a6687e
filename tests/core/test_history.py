from __future__ import annotations

from collections.abc import Hashable

from roadmark.core.history import Command, EditTarget, History


class Counter(Command):
    """Adds ``amount`` to a shared list-cell; merges with commands of the same key."""

    def __init__(self, cell: list[int], amount: int, merge_key: Hashable | None = None):
        self.cell = cell
        self.amount = amount
        self.text = f"add {amount}"
        self.frame_ids = (1,)
        self.merge_key = merge_key

    def apply(self, target: EditTarget) -> None:
        self.cell[0] += self.amount

    def revert(self, target: EditTarget) -> None:
        self.cell[0] -= self.amount

    def merged(self, newer: Command) -> Command | None:
        assert isinstance(newer, Counter)
        return Counter(self.cell, self.amount + newer.amount, self.merge_key)


def do(history: History, command: Counter) -> None:
    command.apply(None)  # type: ignore[arg-type]
    history.push(command)


def test_undo_and_redo_walk_the_lists_and_name_the_commands():
    cell = [0]
    history = History()
    assert not history.can_undo and history.undo_text is None
    do(history, Counter(cell, 1))
    do(history, Counter(cell, 10))
    assert history.undo_text == "add 10" and len(history) == 2
    command = history.next_undo()
    assert command is not None
    command.revert(None)  # type: ignore[arg-type]
    history.undo_done()
    assert cell == [1] and history.redo_text == "add 10" and history.can_redo
    redo = history.next_redo()
    assert redo is not None
    redo.apply(None)  # type: ignore[arg-type]
    history.redo_done()
    assert cell == [11] and not history.can_redo


def test_a_new_command_clears_redo():
    cell = [0]
    history = History()
    do(history, Counter(cell, 1))
    history.next_undo().revert(None)  # type: ignore[union-attr,arg-type]
    history.undo_done()
    do(history, Counter(cell, 5))
    assert not history.can_redo and [c.text for c in history.done()] == ["add 5"]


def test_commands_with_the_same_key_merge_until_sealed():
    cell = [0]
    history = History()
    do(history, Counter(cell, 1, merge_key="nudge"))
    do(history, Counter(cell, 2, merge_key="nudge"))
    assert len(history) == 1 and history.undo_text == "add 3"
    do(history, Counter(cell, 4, merge_key="other"))
    assert len(history) == 2
    history.seal()
    do(history, Counter(cell, 8, merge_key="other"))
    assert len(history) == 3


def test_commands_without_key_never_merge_and_listeners_hear_every_change():
    cell = [0]
    history = History()
    heard: list[int] = []
    history.changed.connect(lambda h: heard.append(len(h)))
    do(history, Counter(cell, 1))
    do(history, Counter(cell, 1))
    history.undo_done()
    history.clear()
    assert heard == [1, 2, 1, 0]
