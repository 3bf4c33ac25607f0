#!/bin/sh
# Stands in for ssh in tests/test_multihost.py: hydra's ssh launcher runs
# `SCRIPT [SSH_OPTIONS] HOST COMMAND...`; here HOST is the name of a network namespace, and COMMAND
# (a shell command line: hydra quotes its words) runs inside it with this environment and cwd.
while [ "${1#-}" != "$1" ]; do shift; done
host=$1
shift
exec ip netns exec "$host" sh -c "$*"
