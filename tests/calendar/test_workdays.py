"""WorkingCalendar against the State Council's published 2020 arrangement.

国办发明电〔2019〕16号 (2020 holidays):
- 元旦 Jan 1; 春节 Jan 24-30, make-up Sun Jan 19 and Sat Feb 1; 清明节 Apr 4-6;
- 劳动节 May 1-5, make-up Sun Apr 26 and Sat May 9; 端午节 Jun 25-27, make-up Sun Jun 28;
- 国庆节+中秋节 Oct 1-8, make-up Sun Sep 27 and Sat Oct 10.
国办发明电〔2020〕1号 (late January 2020): Spring Festival extended to Feb 2 (Jan 31-Feb 2 off;
the Feb 1 make-up working day lapsed).
Expected values below are counted by hand from those notices, not read back from the code.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from rollout.calendar import WorkingCalendar, default_calendar, load_holiday_file, package_years
from rollout.errors import MissingHolidayData, PlanError

FIXTURES = Path(__file__).parent / "fixtures" / "holidays"  # holds a test-only 2027.yaml

ORIGINAL_2020 = """\
year: 2020
source: "国务院办公厅关于2020年部分节假日安排的通知（国办发明电〔2019〕16号），未含春节延长"
holidays:
  - {name: 元旦, days: [2020-01-01]}
  - {name: 春节, from: 2020-01-24, to: 2020-01-30}
  - {name: 清明节, from: 2020-04-04, to: 2020-04-06}
  - {name: 劳动节, from: 2020-05-01, to: 2020-05-05}
  - {name: 端午节, from: 2020-06-25, to: 2020-06-27}
  - {name: 国庆节、中秋节, from: 2020-10-01, to: 2020-10-08}
workdays:
  - {name: 春节调休, days: [2020-01-19, 2020-02-01]}
  - {name: 劳动节调休, days: [2020-04-26, 2020-05-09]}
  - {name: 端午节调休, days: [2020-06-28]}
  - {name: 国庆节、中秋节调休, days: [2020-09-27, 2020-10-10]}
"""


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


# -- required cases ------------------------------------------------------------------------


def test_back_three_from_july_first_lands_on_dragon_boat_make_up_sunday(cal):
    # Wed 07-01 -> Tue 06-30 (1), Mon 06-29 (2), Sun 06-28 make-up day (3).
    assert cal.add_working_days(date(2020, 7, 1), -3) == date(2020, 6, 28)


def test_ten_after_april_17_counts_make_up_sunday_april_26(cal):
    # Fri 04-17 -> Mon 04-20..Fri 04-24 (1-5), Sat 04-25 off, Sun 04-26 make-up (6),
    # Mon 04-27..Thu 04-30 (7-10).
    assert cal.add_working_days(date(2020, 4, 17), 10) == date(2020, 4, 30)


def test_twenty_after_sep_25_crosses_national_day(cal):
    # Fri 09-25 -> Sat 09-26 off, Sun 09-27 make-up (1), 09-28..09-30 (2-4), Oct 1-8 off,
    # Fri 10-09 (5), Sat 10-10 make-up (6), Sun 10-11 off, 10-12..10-16 (7-11),
    # 10-19..10-23 (12-16), Mon 10-26 (17), 10-27 (18), 10-28 (19), Thu 10-29 (20).
    assert cal.add_working_days(date(2020, 9, 25), 20) == date(2020, 10, 29)


def test_package_covers_2004_to_2026_only():
    years = package_years()
    assert years[0] == 2004 and years[-1] == 2026
    assert list(years) == list(range(2004, 2027))


def test_year_without_data_raises_with_file_to_add(cal):
    assert not cal.has_year(2027)
    with pytest.raises(MissingHolidayData) as exc:
        cal.is_working_day(date(2027, 3, 1))
    assert exc.value.year == 2027
    assert exc.value.hint == "rollout/calendar/holidays/2027.yaml"
    assert "2027" in str(exc.value) and "rollout/calendar/holidays/2027.yaml" in str(exc.value)
    # Crossing into the missing year is refused too, never guessed from weekends.
    with pytest.raises(MissingHolidayData) as exc:
        cal.add_working_days(date(2026, 12, 31), 1)
    assert exc.value.year == 2027
    with pytest.raises(MissingHolidayData) as exc:
        cal.add_working_days(date(2004, 1, 2), -5)
    assert exc.value.year == 2003


def test_override_dir_supplies_missing_year():
    cal = WorkingCalendar([FIXTURES])
    assert cal.has_year(2027)
    assert 2027 in cal.years_covered() and 2026 in cal.years_covered()
    assert cal.source_of(2027) == str(FIXTURES / "2027.yaml")
    assert not cal.is_working_day(date(2027, 1, 1))  # fixture holiday (a Friday)
    assert cal.holiday_name(date(2027, 1, 1)) == "测试元旦"
    assert cal.is_working_day(date(2027, 2, 6))  # fixture make-up Saturday
    assert cal.holiday_name(date(2027, 2, 6)) == "测试假日调休上班"
    # Thu 2026-12-31 -> Fri 01-01 off, weekend, Mon 2027-01-04.
    assert cal.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert cal.add_working_days(date(2027, 1, 4), -1) == date(2026, 12, 31)
    # Fri 02-05 -> Sat 02-06 (1); Mon-Fri 02-08..12 off, weekend; Mon 02-15 (2).
    assert cal.add_working_days(date(2027, 2, 5), 2) == date(2027, 2, 15)
    assert cal.working_days_between(date(2026, 12, 31), date(2027, 1, 4)) == 1


def test_2020_spring_festival_extension_in_package(cal):
    # The package already applies 国办发明电〔2020〕1号.
    assert not cal.is_working_day(date(2020, 1, 31))  # Friday, added holiday
    assert cal.holiday_name(date(2020, 1, 31)) == "春节"
    assert not cal.is_working_day(date(2020, 2, 1))  # Saturday, make-up day cancelled
    assert cal.is_working_day(date(2020, 1, 19))  # Sunday make-up day kept
    assert cal.holiday_name(date(2020, 1, 19)) == "春节调休上班"
    # Thu 01-23 -> off Jan 24 .. Sun Feb 2 -> Mon 02-03.
    assert cal.add_working_days(date(2020, 1, 23), 1) == date(2020, 2, 3)


def test_override_file_changes_a_day_the_package_covers(tmp_path):
    (tmp_path / "2020.yaml").write_text(ORIGINAL_2020, encoding="utf-8")
    cal = WorkingCalendar([tmp_path])
    assert cal.source_of(2020) == str(tmp_path / "2020.yaml")
    assert cal.is_working_day(date(2020, 1, 31))  # the original notice: an ordinary Friday
    assert cal.holiday_name(date(2020, 1, 31)) is None
    assert cal.is_working_day(date(2020, 2, 1))  # the original make-up Saturday
    assert cal.holiday_name(date(2020, 2, 1)) == "春节调休上班"
    assert cal.add_working_days(date(2020, 1, 23), 1) == date(2020, 1, 31)
    # The rest of the year is the same as the package's.
    pkg = default_calendar()
    for m in range(3, 13):
        for d in range(1, 29):
            day = date(2020, m, d)
            assert cal.is_working_day(day) == pkg.is_working_day(day), day


# -- names, counting ---------------------------------------------------------------------


def test_holiday_names(cal):
    assert cal.holiday_name(date(2020, 6, 25)) == "端午节"
    assert cal.holiday_name(date(2020, 6, 28)) == "端午节调休上班"
    assert cal.holiday_name(date(2020, 10, 1)) == "国庆节"
    assert cal.holiday_name(date(2020, 4, 26)) == "劳动节调休上班"
    assert cal.holiday_name(date(2020, 6, 20)) == "周末"  # ordinary Saturday
    assert cal.holiday_name(date(2020, 6, 22)) is None  # ordinary Monday
    assert cal.is_working_day(date(2020, 6, 22))
    assert not cal.is_working_day(date(2020, 6, 20))


def test_zero_and_non_working_start(cal):
    assert cal.add_working_days(date(2020, 6, 27), 0) == date(2020, 6, 27)
    # Sat 06-27 (holiday) +1 -> Sun 06-28 make-up; -1 -> Wed 06-24.
    assert cal.add_working_days(date(2020, 6, 27), 1) == date(2020, 6, 28)
    assert cal.add_working_days(date(2020, 6, 27), -1) == date(2020, 6, 24)


def test_year_boundaries(cal):
    # Thu 2020-01-02 -1 -> Jan 1 off -> Tue 2019-12-31.
    assert cal.add_working_days(date(2020, 1, 2), -1) == date(2019, 12, 31)
    assert cal.add_working_days(date(2019, 12, 31), 1) == date(2020, 1, 2)


def test_working_days_between(cal):
    # (07-01, 07-08]: Thu 2, Fri 3, Mon 6, Tue 7, Wed 8.
    assert cal.working_days_between(date(2020, 7, 1), date(2020, 7, 8)) == 5
    assert cal.working_days_between(date(2020, 7, 8), date(2020, 7, 1)) == -5
    assert cal.working_days_between(date(2020, 7, 8), date(2020, 7, 8)) == 0
    # (2019-12-31, 2020-01-02]: Jan 1 off, Thu Jan 2.
    assert cal.working_days_between(date(2019, 12, 31), date(2020, 1, 2)) == 1
    # (09-25, 10-29] = 20, see above.
    assert cal.working_days_between(date(2020, 9, 25), date(2020, 10, 29)) == 20


def test_between_inverts_add(cal):
    start = date(2019, 11, 1)
    for offset in range(0, 500, 7):
        d = date.fromordinal(start.toordinal() + offset)
        for k in (1, 3, 10, 40, 250):
            e = cal.add_working_days(d, k)
            assert cal.working_days_between(d, e) == k
            assert cal.is_working_day(e)
            assert cal.add_working_days(e, -k) <= d


def test_datetime_rejected(cal):
    with pytest.raises(TypeError):
        cal.is_working_day(datetime(2020, 7, 1, 9))


# -- override file validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            "year: 2027\nsource: x\nholidays:\n  - {name: a, days: [2027-01-01]}\n"
            "  - {name: b, from: 2027-02-10, to: 2027-02-08}\n",
            "holidays[1]",
        ),
        ("year: 2027\nsource: x\nholidays:\n  - {name: a, day: [2027-01-01]}\n", "holidays[0].day"),
        ("year: 2027\nsource: x\nworkdays:\n  - {name: a, days: [2027-02-08]}\n", "workdays[0]"),
        ("year: 2027\nsource: x\nholidays:\n  - {name: a, days: [2026-12-31]}\n", "holidays[0]"),
        ("year: 2027\nholidays: []\n", "source"),
        (
            "year: 2027\nsource: x\nholidays:\n  - {name: a, days: [2027-01-01]}\n"
            "  - {name: b, days: [2027-01-01]}\n",
            "holidays[1]",
        ),
    ],
)
def test_bad_override_file_names_file_and_field(tmp_path, body, field):
    (tmp_path / "2027.yaml").write_text(body, encoding="utf-8")
    cal = WorkingCalendar([tmp_path])
    with pytest.raises(PlanError) as exc:
        cal.is_working_day(date(2027, 3, 1))
    assert str(tmp_path / "2027.yaml") in str(exc.value)
    assert field in str(exc.value)


def test_year_must_match_file_name(tmp_path):
    path = tmp_path / "2028.yaml"
    path.write_text("year: 2027\nsource: x\n", encoding="utf-8")
    with pytest.raises(PlanError, match="year"):
        load_holiday_file(path)


def test_not_yaml(tmp_path):
    path = tmp_path / "2027.yaml"
    path.write_text("year: [2027\n", encoding="utf-8")
    with pytest.raises(PlanError, match="2027.yaml"):
        load_holiday_file(path)


def test_first_override_dir_wins(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "2027.yaml").write_text("year: 2027\nsource: a\n", encoding="utf-8")
    (b / "2027.yaml").write_text(
        "year: 2027\nsource: b\nholidays:\n  - {name: x, days: [2027-03-01]}\n", encoding="utf-8"
    )
    assert WorkingCalendar([a, b]).is_working_day(date(2027, 3, 1))  # Monday, from a
    assert not WorkingCalendar([b, a]).is_working_day(date(2027, 3, 1))


def test_calendar_is_pure():
    code = (
        "import sys, rollout.calendar, rollout.deadlines\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sqlmodel', 'sqlalchemy', 'prefect')"
        " or m in ('rollout.settings', 'rollout.db')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
