"""Stand-in for the real guest runtime package: proves the build copies the runtime dir into the component."""

VERSION = "stub-1"
