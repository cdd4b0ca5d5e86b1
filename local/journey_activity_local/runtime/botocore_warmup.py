"""Imported by the execution environments' forkserver only (see ``lambda_runtime.PRELOADED_MODULES``):
botocore's service models, parsed once and shared by every worker forked from it.

botocore gives every session its own data loader, so each new process parses the JSON models
of every service it makes a client for (DynamoDB's alone is hundreds of kilobytes): about a
second of CPU per worker on a busy machine, for 13 senders cold-starting at once far more than
the sends themselves. Here every session of the process shares one loader, filled before the
fork; a worker's first clients then cost milliseconds. (Lambda pays that parse in each cold
start; locally the CPU is shared by every function of the stack, so it is paid once.)
"""

from __future__ import annotations

import contextlib

import botocore.loaders
import botocore.session

# The services the functions call, locally and on AWS.
SERVICES = ("dynamodb", "stepfunctions", "secretsmanager", "ssm", "events", "pinpoint")

_shared = botocore.loaders.create_loader()


def _shared_loader(*_args: object, **_kwargs: object) -> botocore.loaders.Loader:
    return _shared


botocore.session.create_loader = _shared_loader

for _service in SERVICES:
    with contextlib.suppress(Exception):  # a service this botocore does not know is simply not warmed
        botocore.session.Session().create_client(
            _service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="warm-up", aws_secret_access_key="warm-up",  # noqa: S106 - no request is made
        )
