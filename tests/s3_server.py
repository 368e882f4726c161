"""A real S3-compatible server for tests: moto's ThreadedMotoServer on 127.0.0.1 (random port), with
authentication switched on, so that wrong credentials are refused as on AWS."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# Fast failures: one attempt, one-second connect timeout (s3fs passes config_kwargs to botocore's Config).
FAST = {"config_kwargs": {"connect_timeout": 1, "read_timeout": 10, "retries": {"max_attempts": 1}}}


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    key: str
    secret: str

    def options(self, **extra: Any) -> dict[str, Any]:
        """s3fs storage options for this server."""
        return {"endpoint_url": self.endpoint, "key": self.key, "secret": self.secret, **FAST, **extra}

    def make_bucket(self, name: str) -> str:
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True, **self.options()).makedirs(name, exist_ok=True)
        return name


@contextmanager
def moto_s3() -> Iterator[S3Server]:
    """Start moto, create an IAM user allowed everything and return its key pair; every later request must
    be signed with it (moto checks signatures once its no-auth allowance is spent)."""
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # The 4 IAM calls below run unauthenticated; authentication applies from then on (moto/settings.py).
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 4
        ActionAuthenticatorMixin.request_count = 0
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")  # fmt: skip
        user = f"occgen-{uuid.uuid4().hex[:8]}"  # moto's state is per process: a second server sees the first's users
        iam.create_user(UserName=user)
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        policy = iam.create_policy(PolicyName=user, PolicyDocument=json.dumps(document))
        iam.attach_user_policy(UserName=user, PolicyArn=policy["Policy"]["Arn"])
        key = iam.create_access_key(UserName=user)["AccessKey"]
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
        server.stop()
