"""Files procmem-gym reads and writes: bounded reads, atomic writes, one writer per output.

- :mod:`.reading`: every input file is read bounded (regular files only, a size bound, JSON
  depth and number checks), with errors that name the file (:class:`InputFileError`);
- :mod:`.atomic`: every output file is written atomically (temp file, fsync, rename);
- :mod:`.locking`: one writer per run folder or memory file (:class:`OutputBusyError`).
"""

from procmem_gym.files.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from procmem_gym.files.locking import OutputBusyError, exclusive
from procmem_gym.files.reading import InputFileError, read_bytes, read_text

__all__ = [
    "read_bytes",
    "read_text",
    "InputFileError",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
    "exclusive",
    "OutputBusyError",
]
