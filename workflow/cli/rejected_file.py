"""The rejected lines of an import, beside its file: one JSON object a line,
{"line": N, "id": "…" or null, "problem": "…", "text": "the original line"}, in the file's order.

Created at the first rejection only; one left by an earlier run is then replaced whole.
"""

import json
from pathlib import Path
from types import TracebackType
from typing import TextIO


def default_path(source: Path) -> Path:
    return source.with_name(f"{source.name}.rejected.jsonl")


class RejectedFile:
    def __init__(self, path: Path):
        self.path = path
        self.existed = path.exists()  # before this run: it will be replaced, and the command says so
        self.count = 0
        self._stream: TextIO | None = None

    def write(self, line: int, problem: str, text: str, event_id: str | None = None) -> None:
        if self._stream is None:
            # A lone surrogate in a server's problem is written as its JSON escape (\udXXX).
            self._stream = self.path.open("w", encoding="utf-8", errors="backslashreplace", newline="\n")
        record = {"line": line, "id": event_id, "problem": problem, "text": text}
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def __enter__(self) -> "RejectedFile":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._stream is not None:
            self._stream.close()
