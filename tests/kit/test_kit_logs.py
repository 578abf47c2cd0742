"""The JSON logs' last line of defence: no e-mail address leaves the process in a log line, whatever logged it.
The scrubber is a linear-time equivalent of one regular expression (its cost is the benchmark's business)."""

from __future__ import annotations

import json
import logging
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from reliability.logs import JsonFormatter, scrub_emails

# The expression the scrubber must agree with, written out here rather than imported from the code under test.
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")

# Characters that decide matches (the local part's, the domain's, "@", "."), others, and a non-ASCII letter.
_TEXT = st.text(alphabet=st.sampled_from(list('ab1_.+-@ "{}:,é/')), max_size=60)


@settings(max_examples=3000, deadline=None)
@given(_TEXT)
def test_it_replaces_what_the_regular_expression_replaces(text):
    assert scrub_emails(text) == EMAIL.sub("<email>", text)


def test_addresses_go_and_what_only_looks_like_one_stays():
    line = 'to ada.peeters+mc@student.uantwerpen.be, "bob@x.org"; policy uantwerp-en@1, a@b, @c.d, e@.f'
    assert scrub_emails(line) == 'to <email>, "<email>"; policy uantwerp-en@1, a@b, @c.d, e@.f'


def test_a_record_whose_extra_fields_hold_an_address_is_written_without_it():
    record = logging.makeLogRecord(
        {"name": "billing", "levelname": "INFO", "msg": "mail to %s", "args": ("ada@example.org",)}
    )
    record.student = {"email": "ada.p@example.org", "id": "S-1"}
    line = JsonFormatter("billing").format(record)
    assert "example.org" not in line
    entry = json.loads(line)
    assert entry["message"] == "mail to <email>"
    assert entry["student"] == {"email": "<email>", "id": "S-1"}
