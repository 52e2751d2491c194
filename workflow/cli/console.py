"""Where the `ativa` command prints: results on stdout, errors and process logs on stderr."""

import json
from typing import Any

from rich.console import Console

out = Console(markup=False)  # a name like "[/b]" is printed as written, never read as markup
err = Console(stderr=True)


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str, ensure_ascii=False))
