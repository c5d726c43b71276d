"""`python -m tests.racing DIR LUIGI-ARGS...`: luigi's command, as a machine racing another on one bucket.

The first record this process writes to the bucket waits, after every file of its upload is there,
until as many processes as DIR's name says (DIR/<count>) reach the same point. Two machines that
make the same artifact therefore both upload it, and both try to write its record: the race that
the store's conditional write settles, made certain instead of left to the clock.
"""

import os
import sys
import time
from pathlib import Path

from luigi.cmdline import luigi_run

from stores.bucket import MAX_ATTEMPTS
from stores.s3 import S3Store


def main():
    meeting, argv = Path(sys.argv[1]), sys.argv[2:]
    count, waited = int(meeting.name), []
    put_record = S3Store._put_record

    def racing(self, stage, artifact_id, record, attempts=MAX_ATTEMPTS):
        if not waited:
            waited.append(stage)
            (meeting / str(os.getpid())).touch()
            deadline = time.monotonic() + 120
            while len(list(meeting.iterdir())) < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the other machines never reached {meeting}")
                time.sleep(0.05)
        return put_record(self, stage, artifact_id, record, attempts)

    S3Store._put_record = racing
    luigi_run(argv)


if __name__ == "__main__":
    main()
