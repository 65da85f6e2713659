#!/usr/bin/python3
"""Run a command under the seccomp restrictions contrib/dhcpnet.service asks
systemd for, built here with libseccomp (python3-seccomp) since the test
machines do not run systemd as PID 1. Used by tests/hardening_edges.rs,
together with setpriv (capability bounding set, ambient capabilities,
no_new_privs).

    unit_sandbox.py -- COMMAND ARGS...

What it applies, as systemd does for these unit settings:
- SystemCallFilter=@system-service, SystemCallFilter=~@privileged @resources, with
  SystemCallErrorNumber=EPERM: every other system call fails with EPERM
  (the sets are read from `systemd-analyze syscall-filter`, the same
  tables systemd uses); SystemCallArchitectures=native (libseccomp's
  default: other ABIs are killed);
- RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET:
  socket(2) of any other family fails with EAFNOSUPPORT;
- MemoryDenyWriteExecute: mmap with PROT_WRITE|PROT_EXEC, mprotect and
  pkey_mprotect adding PROT_EXEC fail with EPERM;
- RestrictNamespaces=yes: unshare, setns and clone with CLONE_NEW* flags
  fail with EPERM (clone3 with ENOSYS, so that libc falls back to clone);
- RestrictRealtime: sched_setscheduler to SCHED_FIFO/RR fails;
- LockPersonality: personality other than the default (0) or a query fails.
"""

import errno
import os
import subprocess
import sys

import seccomp


def group(name):
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter", "--no-pager", name],
        check=True, capture_output=True, text=True,
    ).stdout
    names = set()
    for line in out.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        if w.startswith("@"):
            names |= group(w)
        else:
            names.add(w)
    return names


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    allowed = group("@system-service") - group("@privileged") - group("@resources")
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    known = 0
    for name in sorted(allowed):
        try:
            f.add_rule(seccomp.ALLOW, name)
            known += 1
        except (RuntimeError, ValueError, OSError):
            pass  # not a system call of this architecture
    # The argument rules below are the only way those calls are allowed:
    # remove the plain ALLOW first (libseccomp refuses conflicting rules,
    # so they are rebuilt on a filter without them).
    special = {"socket", "mmap", "mprotect", "pkey_mprotect", "unshare", "setns",
               "clone", "clone3", "sched_setscheduler", "personality"}
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in sorted(allowed - special):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            pass
    A = seccomp.Arg
    for fam in (1, 2, 10, 16, 17):  # AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET
        f.add_rule(seccomp.ALLOW, "socket", A(0, seccomp.EQ, fam))
    f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", A(0, seccomp.GT, 17))
    for fam in range(0, 17):
        if fam not in (1, 2, 10, 16):
            f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", A(0, seccomp.EQ, fam))
    PROT_WRITE, PROT_EXEC = 2, 4
    f.add_rule(seccomp.ALLOW, "mmap", A(2, seccomp.MASKED_EQ, PROT_WRITE | PROT_EXEC, 0))
    f.add_rule(seccomp.ALLOW, "mmap", A(2, seccomp.MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE))
    f.add_rule(seccomp.ALLOW, "mmap", A(2, seccomp.MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_EXEC))
    f.add_rule(seccomp.ALLOW, "mprotect", A(2, seccomp.MASKED_EQ, PROT_EXEC, 0))
    f.add_rule(seccomp.ALLOW, "pkey_mprotect", A(2, seccomp.MASKED_EQ, PROT_EXEC, 0))
    CLONE_NEW = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00020000 | 0x00000080
    f.add_rule(seccomp.ALLOW, "clone", A(0, seccomp.MASKED_EQ, CLONE_NEW, 0))
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    f.add_rule(seccomp.ALLOW, "sched_setscheduler", A(1, seccomp.EQ, 0))  # SCHED_OTHER
    f.add_rule(seccomp.ALLOW, "sched_setscheduler", A(1, seccomp.EQ, 3))  # SCHED_BATCH
    f.add_rule(seccomp.ALLOW, "sched_setscheduler", A(1, seccomp.EQ, 5))  # SCHED_IDLE
    f.add_rule(seccomp.ALLOW, "personality", A(0, seccomp.EQ, 0))
    f.add_rule(seccomp.ALLOW, "personality", A(0, seccomp.EQ, 0xFFFFFFFF))
    f.load()
    print("unit_sandbox: %d system calls allowed" % known, file=sys.stderr, flush=True)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
