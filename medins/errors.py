"""One exception base for everything a user can get wrong, each saying what, where and how to fix."""

from __future__ import annotations

from medins.i18n import Lang, Text


class MedinsError(Exception):
    """A user's mistake or a problem with data: shown as one clear line, exit code 1."""

    exit_code = 1

    def __init__(self, text: Text, where: str = "", fix: Text | None = None) -> None:
        self.text = text
        self.where = where
        self.fix = fix
        super().__init__(self.render("en"))

    @property
    def message(self) -> Text:
        """What is wrong and how to fix it, without the place."""
        return self.text if self.fix is None else self.text + Text("；", "; ") + self.fix

    def render(self, lang: Lang) -> str:
        head = f"{self.where}: " if self.where else ""
        tail = ""
        if self.fix is not None:
            tail = ("；" if lang == "zh" else "; ") + self.fix(lang)
        return head + self.text(lang) + tail


class RuleError(MedinsError):
    """A rule file is malformed, contradicts itself or is missing."""


class CaseError(MedinsError):
    """A case (one bill) is malformed or refers to something that does not exist."""


class RowError(MedinsError):
    """A row of a batch input is bad: the batch rejects the row and goes on."""

    def __init__(self, text: Text, row: int, column: str = "", fix: Text | None = None) -> None:
        self.row = row
        self.column = column
        where = f"row {row}" + (f", column {column}" if column else "")
        super().__init__(text, where, fix)


class SettlementBug(AssertionError):
    """A reconciliation identity failed: a defect of medins, never rounded away."""


class UsageError(MedinsError):
    """The command line itself is wrong (a missing or unknown value, flags that do not go together): exit 2."""

    exit_code = 2


def t(zh: str, en: str) -> Text:
    """Shorthand for a bilingual text."""
    return Text(zh, en)
