"""Writing files and folders so that no reader ever sees half of one: write a temporary name, then
rename. Temporaries are named after the host and process that made them, so one left behind by
a killed process is removed by the next writer into the same folder, and never one of a process
that is still running (a sweep worker may be writing beside us); folders get the mode the
user's umask gives (not ``tempfile.mkdtemp``'s 0700), so other users can read what we publish.
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import socket

from bvae_tf.errors import UserError


def _machine():
    """This host's name (and PID namespace, so containers sharing a host name and a disk differ)."""
    name = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
    try:
        namespace = re.sub(r"\D", "", os.readlink("/proc/self/ns/pid"))
    except OSError:
        namespace = ""
    return f"{name}.{namespace}" if namespace else name


_HOST = _machine()
# <anything>.tmp-<host>-<pid>[-<8 random hex>]: a temporary file (no suffix) or folder (suffix).
_TEMP = re.compile(r"\.tmp-(?P<host>[A-Za-z0-9._]+)-(?P<pid>\d+)(?:-[0-9a-f]{8})?$")


def _temp_suffix():
    return f".tmp-{_HOST}-{os.getpid()}"


def process_alive(pid):
    """Whether a process with this id runs on this machine (a zombie or another user's counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists but is not ours (or an odd id): leave it alone
    return True


def stale_temporaries(folder, prefix=""):
    """Temporaries in ``folder`` (names starting with ``prefix``) left by dead processes of this host."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    stale = []
    for name in names:
        match = _TEMP.search(name)
        if (
            name.startswith(prefix)
            and match
            and match.group("host") == _HOST
            and not process_alive(int(match.group("pid")))
        ):
            stale.append(os.path.join(folder, name))
    return stale


def remove_stale_temporaries(folder, prefix=""):
    """Remove what :func:`stale_temporaries` finds (quietly: another process may remove it too)."""
    for path in stale_temporaries(folder, prefix):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass


def make_temp_dir(final_path):
    """A new empty folder ``.<name>.tmp-<host>-<pid>-<random>`` beside ``final_path``, to be
    renamed to it when complete. Created with mode 0777 less the umask (as ``mkdir`` makes any
    folder), so the renamed result is as readable as a folder the user made; stale temporaries of
    dead processes beside it are removed first."""
    parent = os.path.dirname(os.path.abspath(final_path))
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(parent)
    while True:
        path = os.path.join(parent, f".{os.path.basename(final_path)}{_temp_suffix()}-{secrets.token_hex(4)}")
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
        except OSError as error:  # name the folder the user asked for, not our temporary name
            error.filename = os.path.abspath(final_path)
            raise


def write_atomic(path, write):
    """Call ``write(temp_path)``, then rename the result to ``path`` (removing it on failure).
    Temporaries of ``path`` left by killed processes are removed afterwards."""
    temp = f"{path}{_temp_suffix()}"
    try:
        write(temp)
        os.replace(temp, path)
    except OSError as error:  # name the file the user asked for (a full disk's error names none)
        if error.filename in (None, temp):
            error.filename = path
        raise
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    remove_stale_temporaries(os.path.dirname(os.path.abspath(path)), os.path.basename(path) + ".tmp-")


def write_atomic_named(path, write):
    """`write_atomic` for writers that insist on the file's own name (Keras' ``save_weights`` wants
    ``.weights.h5``): ``write`` gets ``<a temporary folder beside path>/<its name>``. A failure is
    one plain ``OSError`` naming ``path`` (h5py's, on a full disk, is a page of HDF5 details)."""
    folder = make_temp_dir(path)
    temp = os.path.join(folder, os.path.basename(path))
    try:
        write(temp)
        os.replace(temp, path)
    except OSError as error:
        code = error.errno if isinstance(error.errno, int) else None
        raise OSError(code, os.strerror(code) if code else str(error).splitlines()[0], path) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_text(path, text):
    def write(temp):
        with open(temp, "w") as f:
            f.write(text)

    write_atomic(path, write)


def write_json(path, payload):
    """JSON with numpy numbers and other objects written as numbers or strings."""
    write_text(path, json.dumps(payload, indent=2, default=lambda x: float(x) if hasattr(x, "__float__") else str(x)))


def file_sha256(path, chunk=1 << 22):
    """The SHA-256 of a file's bytes, read in chunks (data files can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable_folder(path, flag):
    """UserError unless ``path`` is (or can be created as) a folder this process may write: checked
    before hours of work, not after. ``flag`` names the setting, for the message."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag}: {path} is a file, not a folder; choose a folder")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):  # the nearest ancestor that exists will hold the new folders
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UserError(f"{flag}: {existing} is a file, not a folder; choose a folder")
    # The effective user's rights (a process that dropped privileges, e.g. a service, writes as it).
    if not os.access(existing, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        raise UserError(f"{flag}: cannot write under {existing} (permission denied); choose a folder you can write")
