"""answer_plain's C accelerator under AddressSanitizer: run by test_asan.py in a subprocess.

    python tests/protocol/asan_answers_check.py ASAN_BUILD_OF_ANSWERS_SO SECONDS

It loads the given build of rush.protocol._answers before anything imports rush, then runs
random batches (tests/protocol/answer_cases.py: every kind of message, table entry and
answer, the app raising, budgets spent) for SECONDS, checking each outcome against the
pure-Python twin. With PYTHONMALLOC=malloc every object it reads or copies (the messages'
fields, the bodies it frames) is an allocation of its own, so a read past one is reported.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.asan import load_extension  # noqa: E402 (imports no part of rush)


def main() -> None:
    so_path, seconds = sys.argv[1], float(sys.argv[2])
    compiled = load_extension("rush.protocol._answers", so_path)

    from rush.protocol import answers
    from tests.protocol.answer_cases import case, outcome

    assert answers.answer_plain is compiled.answer_plain, answers.ANSWERS_IMPLEMENTATION  # type: ignore[attr-defined]
    rng = random.Random(2)
    deadline = time.monotonic() + seconds
    batches = 0
    while time.monotonic() < deadline:
        batch = case(rng)
        assert outcome(compiled.answer_plain, batch) == outcome(answers.python_answer_plain, batch)  # type: ignore[attr-defined]
        batches += 1
    print(f"fuzz: {batches} batches", flush=True)


if __name__ == "__main__":
    main()
