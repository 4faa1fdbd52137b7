"""Process exit codes shared by every edgerun command (``run``, ``bridge``, tools).

They follow sysexits.h where one fits, so systemd's ``RestartPreventExitStatus=78`` can keep
a gateway with a broken config from restarting in a loop.
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
#: The command line was wrong (sysexits EX_USAGE).
EXIT_USAGE: Final = 64
#: A fatal runtime error: the queue cannot open, a driver with ``restart = "fail"`` failed
#: (EX_SOFTWARE).
EXIT_FATAL: Final = 70
#: Shutdown forced: the grace period passed or a second signal came (EX_TEMPFAIL).
EXIT_FORCED: Final = 75
#: The configuration is invalid (EX_CONFIG).
EXIT_CONFIG: Final = 78

__all__ = ["EXIT_CONFIG", "EXIT_FATAL", "EXIT_FORCED", "EXIT_OK", "EXIT_USAGE"]
