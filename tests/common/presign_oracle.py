#!/usr/bin/python3
"""presign_oracle.py - an independent SigV4 presigner (Debian's python3-botocore) for tests.

Prints the presigned GET URL botocore makes for one object at a fixed time, so test_sigv4
can compare picluster's URL with it byte for byte:

  presign_oracle.py --bucket B --key K --region R --expires N --time EPOCH \
      --access-key AK --secret-key SK [--token T] [--endpoint http://HOST:PORT]

or, for many at once, one case per line of a file (tab-separated, empty for none):

  presign_oracle.py --batch FILE
  BUCKET  KEY  REGION  EXPIRES  EPOCH  ACCESS_KEY  SECRET_KEY  TOKEN  ENDPOINT

Without --endpoint the URL is AWS's regional virtual-hosted one (path-style for a bucket
with dots); with it, path-style on that endpoint, as picluster addresses S3.
"""
import argparse
import datetime
import sys
from unittest import mock

import botocore.auth
import botocore.config
import botocore.session


def presign(bucket, key, region, expires, epoch, access_key, secret_key, token, endpoint):
    style = "path" if endpoint or "." in bucket else "virtual"
    if not endpoint:
        # The regional endpoint, as picluster uses; left to itself botocore would presign
        # some regions on the global s3.amazonaws.com instead.
        endpoint = f"https://s3.{region}.amazonaws.com"
    cfg = botocore.config.Config(
        signature_version="s3v4",
        s3={"addressing_style": style, "us_east_1_regional_endpoint": "regional"},
    )
    client = botocore.session.get_session().create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint or None,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token or None,
        config=cfg,
    )
    fixed = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)
    # botocore reads the clock once per signature, through datetime.datetime.utcnow().
    with mock.patch.object(botocore.auth, "datetime") as dt:
        dt.datetime.utcnow.return_value = fixed
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch")
    ap.add_argument("--bucket")
    ap.add_argument("--key")
    ap.add_argument("--region")
    ap.add_argument("--expires", type=int)
    ap.add_argument("--time", type=int)
    ap.add_argument("--access-key")
    ap.add_argument("--secret-key")
    ap.add_argument("--token")
    ap.add_argument("--endpoint")
    a = ap.parse_args()
    if a.batch:
        with open(a.batch, encoding="utf-8") as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 9:
                    sys.exit("presign_oracle: a batch line needs 9 tab-separated fields")
                b, k, r, e, t, ak, sk, tok, ep = fields
                print(presign(b, k, r, int(e), int(t), ak, sk, tok, ep), flush=True)
        return
    print(presign(a.bucket, a.key, a.region, a.expires, a.time, a.access_key,
                  a.secret_key, a.token, a.endpoint))


if __name__ == "__main__":
    main()
