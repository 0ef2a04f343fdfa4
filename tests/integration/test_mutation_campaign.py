"""The mutation campaign (tests/mutation_campaign.py) as a test: a few hundred seeded mutants
of real cores of three interpreters, every verb, on the normal build and, when it exists, the
ASan+UBSan build (build-asan/py-heap). It must find no crash, no sanitizer report, no hang and
no silent change among the structural mutants (pointers and counts); its figures are printed.

PYHEAP_MUTANTS=N sets the number of mutants per build (default 300), PYHEAP_MUTANT_SEED the
seed (default 13); more interpreters: run the script itself with --interpreters all.
"""
import os
import sys
import unittest

import hostile_testlib as H
import pyheap_testlib as T

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mutation_campaign as M  # noqa: E402

MUTANTS = int(os.environ.get("PYHEAP_MUTANTS", "300"))
SEED = int(os.environ.get("PYHEAP_MUTANT_SEED", "13"))


def setUpModule():
    T.require_pyheap()


def tearDownModule():
    T.cleanup_all()


class MutationCampaignTest(unittest.TestCase):
    def test_campaign(self):
        labels = [lb for lb in ("3.12", "3.11", "3.9")
                  if T.interpreter(lb).available]
        if not labels:
            self.skipTest("no interpreter among 3.12, 3.11, 3.9")
        for label, binary in H.binaries():
            with self.subTest(build=label):
                # The ASan build is slower: a third of the mutants.
                n = MUTANTS if label == "build" else max(MUTANTS // 3, 30)
                rc = M.main(["--mutants", str(n), "--seed", str(SEED), "--interpreters",
                             ",".join(labels), "--binary", binary, "--timeout", "600"])
                self.assertEqual(0, rc, "the campaign found crashes, sanitizer reports, hangs "
                                        "or silent changes (FAILED lines on stderr)")


if __name__ == "__main__":
    unittest.main()
