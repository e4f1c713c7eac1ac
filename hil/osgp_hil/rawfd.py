"""rawfd: the client's end of a PTY or UART as a raw, non-blocking descriptor.

What the C12.18 client (c1218) and the MEP line scripts (link) share: the
line opened in raw mode with nothing left over from an earlier user, every
byte written even when the line pushes back, and one bounded wait for input.
"""

import os
import select
import termios
import tty


def open_raw(path):
    """A non-blocking descriptor on path in raw mode, both queues flushed."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)
        termios.tcflush(fd, termios.TCIOFLUSH)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_all(fd, data):
    """Write every byte of data, waiting (0.1 s at a time) while the line is full."""
    data = bytes(data)
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [], 0.1)
            continue
        data = data[n:]


def read_some(fd, timeout):
    """What one wait of up to timeout seconds brings: None if nothing came,
    b"" if the descriptor woke with nothing to read, else the bytes."""
    r, _, _ = select.select([fd], [], [], max(0.0, timeout))
    if not r:
        return None
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return b""
