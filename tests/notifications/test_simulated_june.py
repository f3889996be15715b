"""Issue 3's end-to-end case: ``init``, then June 2020 simulated with no task done; every
county's government address gets exactly the digests the default policy gives, on exactly those
days, through a real SMTP server."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from email.utils import parsedate_to_datetime

from rollout.calendar import TZ
from rollout.notifications.dispatch import DispatchConfig
from rollout.notifications.smtp import SmtpConfig
from rollout.simulation import simulate

# Catalog tasks are due 2020-07-01 (plan §四(一)). Reminders 10/5/3/1 working days before, on the
# official 2020 calendar (端午节 06-25..06-27 off, Sunday 06-28 a make-up working day):
#   10 before: 06-30(1) 29(2) 28(3) 24(4) 23(5) 22(6) 19(7) 18(8) 17(9) 16(10) -> 06-16
#   5 before: 06-23; 3 before: 06-28 (the Sunday make-up day); 1 before: 06-30.
# The due-day reminder (07-01) is after June. No other county-owned task has a June step.
EXPECTED_DAYS = [date(2020, 6, 16), date(2020, 6, 23), date(2020, 6, 28), date(2020, 6, 30)]


def test_june_2020_digests_per_county(jilin, calendar, smtp_server):
    config = DispatchConfig(smtp=SmtpConfig(host="127.0.0.1", port=smtp_server.port,
                                            starttls=False, mail_from="gk-notice@example.org",
                                            mail_from_name="省政务公开办"))
    report = simulate(jilin, date(2020, 6, 1), date(2020, 6, 30), calendar=calendar, config=config)
    # sweeps ran only on working days:
    # June 2020 has 22 weekdays; 06-25 (Thu) and 06-26 (Fri) are holidays; +1 make-up Sunday = 21
    assert len(report.days) == 21
    assert date(2020, 6, 28) in {d.day for d in report.days}
    assert not {date(2020, 6, 25), date(2020, 6, 26), date(2020, 6, 27)} & {d.day for d in report.days}

    per_county: dict[str, list] = defaultdict(list)
    for r in smtp_server.sink.received:
        for rcpt in r.rcpt_tos:
            if rcpt.startswith("gk-22") and rcpt[3:9].isdigit() and rcpt[7:9] != "00":
                per_county[rcpt].append(r)
    assert len(per_county) == 60
    for address, mails in per_county.items():
        days = sorted(parsedate_to_datetime(m.msg["Date"]).astimezone(TZ).date() for m in mails)
        assert days == EXPECTED_DAYS, address
        for m in mails:
            assert m.text().count("催办〔2020〕") == 26  # 26 domain items, each with its notice number
    nanguan = sorted(per_county["gk-220102@example.org"], key=lambda m: m.msg["Date"])
    assert str(nanguan[0].msg["Subject"]) == "【催办】南关区：26项任务即将到期"
    ids = [m.message_id for mails in per_county.values() for m in mails]
    assert len(ids) == len(set(ids)) == 60 * 4
