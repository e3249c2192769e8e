"""Which server files a user may name by path: only those inside the zoo and the folders the
server was started with (--models-dir / --data-dir); anything else gets one refusal that says
nothing about the file."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence, Union

from ..errors import CheckpointError

REFUSAL = ("This server reads files only from the model zoo and the folders it was started with (--models-dir / "
           "--data-dir), and that path names none of them. Upload the file instead.")


class UserPaths:
    """The folders whose files a user may name by path."""

    def __init__(self, zoo_path: Path, exposed_dirs: Sequence[Union[str, Path]] = ()):
        self.zoo_path = zoo_path
        self.exposed_dirs = [Path(d) for d in exposed_dirs]

    def roots(self) -> list[Path]:
        return [self.zoo_path.resolve()] + [Path(d).expanduser().resolve() for d in self.exposed_dirs]

    def check(self, typed: Union[str, Path]) -> Path:
        """A path typed by a user, if it names a file inside ``roots()``; otherwise one refusal
        (whether the file exists, or what it is, is not said)."""
        try:
            path = Path(str(typed).strip()).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            raise CheckpointError(REFUSAL) from None
        if not any(path.is_relative_to(r) for r in self.roots()) or not path.is_file():
            raise CheckpointError(REFUSAL)
        return path
