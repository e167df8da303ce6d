"""One writer per run folder and per sweep folder.

Two ``train`` runs of the same name at once would mix their logs and config.json (and one dies
on an h5 lock); two sweeps into one folder would race for trials. The first process holds an
exclusive ``fcntl.flock`` on ``<folder>/.lock``; a second one is refused with a clear message.
The operating system releases a flock when its process ends, however it ends, so a lock left
by a killed process never blocks: the next run simply takes it. (A lock file's existence
proves nothing; the flock on it does.)
"""

import contextlib
import fcntl
import os

from bvae_tf.errors import UserError

LOCK_FILE = ".lock"


@contextlib.contextmanager
def folder_lock(folder, what, name=LOCK_FILE):
    """Hold the lock on ``folder`` (created if needed) for the ``with`` block; UserError if another
    live process holds it. ``what`` says what the folder is, for the message ("run", "sweep")."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(
                f"{folder}: this {what} is in use by {holder}; wait for it to finish, or choose another name or folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
