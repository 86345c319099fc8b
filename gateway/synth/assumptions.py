"""The synthetic population's assumptions: rates, code lists and word lists.

Everything here is **this project's synthetic assumption, not a fact** about Shaoxing or its
residents. The numbers were chosen to look plausible for demos, load tests and scoring-model
experiments; only the provincial evaluation distribution comes from a source (the 2018
Zhejiang natural-person evaluation, ``/work/shared/research/city-scores.md`` §1b).

Population (per resident)
    * household registration 75 % (Shaoxing division codes, weighted by rough district size),
      residence-permit holders 20 % (ID numbers from other divisions), moved away 5 % (Shaoxing
      ID numbers, ``moved_away`` residency).
    * minors (under 18 on ``as_of``) 7 %, ages 0–17 uniform; adults 18–85 by the
      :data:`ADULT_AGE_BANDS` weights (bulge at 30–59, thinning after 65); 51 % men.
    * names: a weighted list of common surnames; one (30 %) or two given-name characters drawn
      from a male, female or neutral list by the sex in the ID number.

Records
    * residency (public security): every resident exactly one; permits are one-year permits, 3 %
      expired (``valid_until`` before ``as_of``), the rest valid into the future.
    * scoring_authorisation (credit office): 88 % of adults granted (plus 10 % of minors aged
      14+, which the scoring core refuses); 2 % of grants later withdrawn by a second record.
    * civil_capacity (court): 0.3 % of adults a ``limited``/``none`` finding (3:1); a tenth of
      those later restored by a ``full`` finding. Everyone else has no court record (no finding
      is taken to mean full capacity).
    * provincial_evaluation (provincial platform): 99 % of adults, one result dated within the
      last year, score drawn from :data:`PROVINCIAL_BANDS`, uniform within a band.
    * pledge_made: adults, Poisson with mean 1.2, from the credit office (50 %), market regulation
      (20 %), transport (15 %), water utility (15 %); 70 % followed by a ``pledge_kept`` from the
      same unit (``pledge_ref`` = the pledge's ``source_ref``).
    * pledge_breach: adults, independently minor 6 %, serious 1.5 %, grave 0.3 %, within the
      last six years; half of those from a unit holding an unkept pledge of the person cite it.
    * honour (civil affairs): adults, independently county 3 %, municipal 1 %, provincial 0.2 %,
      national 0.02 %, within the last six years.
    * donation (charity federation): 25 % of adults and 10 % of minors aged 6+, 1–5 donations each,
      log-normal amounts with a median of 200 yuan (σ = 1.1), within the last three years.
    * volunteer_service (volunteer federation): 30 % of adults and of minors aged 10+, 1–20
      sessions of 1–8 hours (half-hour steps), within the last three years.
    * self-report channel: 2 % of adults report one volunteer session, donation or honour.

These rates average about 8.5 records per resident (100 000 residents, seed 1: 8.55), most of
them volunteer sessions (≈3.05), pledges and their fulfilment (≈1.9), residency (1), the
provincial evaluation (≈0.92), authorisations (≈0.84) and donations (≈0.72).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADULT_AGE_BANDS",
    "AUTH_CHANNELS",
    "AUTH_GRANTED",
    "AUTH_MINOR_GRANTED",
    "AUTH_WITHDRAWN",
    "BREACH_CATEGORIES",
    "BREACH_RATES",
    "BREACH_UNITS",
    "CAPACITY_FINDING",
    "CAPACITY_RESTORED",
    "DONATION_ADULT",
    "DONATION_MEDIAN",
    "DONATION_MINOR",
    "DONATION_RECIPIENTS",
    "DONATION_SIGMA",
    "EXPIRED_PERMIT",
    "FEMALE_GIVEN",
    "HONOUR_RATES",
    "HONOUR_TITLES",
    "MALE_GIVEN",
    "MALE_SHARE",
    "MEASURE_IN_FORCE",
    "MINOR_SHARE",
    "MOVED_AWAY_SHARE",
    "NEUTRAL_GIVEN",
    "OTHER_DIVISIONS",
    "PERMIT_SHARE",
    "PLEDGE_KEPT",
    "PLEDGE_MEAN",
    "PLEDGE_TEMPLATES",
    "PLEDGE_UNITS",
    "PROVINCIAL_BANDS",
    "PROVINCIAL_COVERAGE",
    "SELF_REPORT",
    "SHAOXING_DIVISIONS",
    "SINGLE_GIVEN_SHARE",
    "SURNAMES",
    "VOLUNTEER_ADULT",
    "VOLUNTEER_MINOR",
    "VOLUNTEER_ORGANISATIONS",
]

# --- population --------------------------------------------------------------------------------
PERMIT_SHARE: Final = 0.20
MOVED_AWAY_SHARE: Final = 0.05
MINOR_SHARE: Final = 0.07
MALE_SHARE: Final = 0.51
SINGLE_GIVEN_SHARE: Final = 0.30

# (division code, name, relative weight ~ resident population in 10 000s)
SHAOXING_DIVISIONS: Final = (
    ("330602", "越城区", 100),
    ("330603", "柯桥区", 110),
    ("330604", "上虞区", 80),
    ("330624", "新昌县", 43),
    ("330681", "诸暨市", 120),
    ("330683", "嵊州市", 68),
)
# Home divisions of residence-permit holders (code, weight).
OTHER_DIVISIONS: Final = (
    ("340102", 8), ("341202", 12), ("410102", 6), ("411302", 9), ("360102", 7), ("522101", 10),
    ("513001", 8), ("330302", 10), ("342201", 8), ("430102", 5), ("500101", 6), ("330782", 6),
)  # fmt: skip

# Adult ages (first age, last age, weight); ages within a band are uniform.
ADULT_AGE_BANDS: Final = (
    (18, 24, 8), (25, 29, 8), (30, 34, 10), (35, 39, 10), (40, 44, 9), (45, 49, 10), (50, 54, 11),
    (55, 59, 10), (60, 64, 8), (65, 69, 7), (70, 74, 5), (75, 79, 3), (80, 85, 2),
)  # fmt: skip

# (surname, weight): a mix of the national top surnames and Zhejiang-frequent ones.
SURNAMES: Final = (
    ("陈", 60), ("王", 55), ("张", 40), ("李", 38), ("徐", 30), ("吴", 28), ("周", 28), ("金", 22),
    ("杨", 20), ("沈", 20), ("钱", 16), ("朱", 18), ("俞", 14), ("黄", 16), ("孙", 15), ("胡", 15),
    ("章", 12), ("何", 12), ("赵", 12), ("郑", 12), ("傅", 10), ("宋", 8), ("马", 8), ("孟", 6),
    ("刘", 25), ("叶", 10), ("蒋", 9), ("董", 8), ("丁", 7), ("潘", 8), ("袁", 6), ("姚", 7),
    ("方", 8), ("许", 9), ("林", 9), ("邵", 6), ("楼", 5), ("寿", 3), ("裘", 3),
    ("魏", 5), ("顾", 5), ("毛", 5), ("钟", 4), ("汪", 5), ("范", 4), ("韩", 5), ("冯", 5),
    ("诸葛", 1), ("欧阳", 1),
)  # fmt: skip
MALE_GIVEN: Final = "伟强磊军勇杰涛斌超明刚平辉鹏飞鑫波宇浩凯健俊帆旭宁龙阳建国志豪轩博峰海亮成林栋"
FEMALE_GIVEN: Final = "芳娜敏静丽艳娟霞秀玲英慧婷雪琳晶颖倩欣怡梦萱涵悦诗琪瑶妍婉淑红梅兰燕蓉佳洁"
NEUTRAL_GIVEN: Final = "文华晨子雨嘉一安心宇思佳春秋晓"

# --- authorisation, residency, capacity --------------------------------------------------------
MEASURE_IN_FORCE: Final = (2022, 2, 1)  # trial in force from 2022-02-01 (the measure)
AUTH_GRANTED: Final = 0.88
AUTH_MINOR_GRANTED: Final = 0.10  # of minors aged 14+
AUTH_WITHDRAWN: Final = 0.02
AUTH_CHANNELS: Final = (("app", 55), ("wechat", 30), ("kiosk", 8), ("counter", 7))
EXPIRED_PERMIT: Final = 0.03
CAPACITY_FINDING: Final = 0.003
CAPACITY_RESTORED: Final = 0.10

# --- provincial evaluation ---------------------------------------------------------------------
PROVINCIAL_COVERAGE: Final = 0.99
# (lowest, highest, share %) — results ranged 499–890 in the 2018 natural-person evaluation.
PROVINCIAL_BANDS: Final = (
    (499, 599, 0.00002), (600, 649, 0.005), (650, 699, 0.01), (700, 749, 0.0027),
    (750, 799, 2.06), (800, 849, 97.9), (850, 890, 0.0007),
)  # fmt: skip

# --- commitments -------------------------------------------------------------------------------
PLEDGE_MEAN: Final = 1.2
PLEDGE_KEPT: Final = 0.70
# (unit id, weight) — units allowed to supply pledge_made and pledge_kept.
PLEDGE_UNITS: Final = (
    ("sx-credit-center", 50), ("sx-market-regulation", 20), ("sx-transport", 15), ("sx-water-utility", 15),
)  # fmt: skip
# unit id -> ((pledge_type, template), ...)
PLEDGE_TEMPLATES: Final = {
    "sx-credit-center": (
        ("law_abiding", "个人诚信承诺书（通用版）"),
        ("public_morality", "文明市民承诺书"),
        ("contract_keeping", "个人守信履约承诺书"),
    ),
    "sx-market-regulation": (
        ("law_abiding", "个体工商户守法经营承诺书"),
        ("contract_keeping", "消费者权益保护承诺书"),
    ),
    "sx-transport": (("public_morality", "文明出行承诺书"), ("law_abiding", "网约车驾驶员守法承诺书")),
    "sx-water-utility": (("contract_keeping", "按期缴纳水费承诺书"), ("public_morality", "节约用水承诺书")),
}
# severity -> rate among adults
BREACH_RATES: Final = (("minor", 0.06), ("serious", 0.015), ("grave", 0.003))
# severity -> ((unit id, weight), ...)
BREACH_UNITS: Final = {
    "minor": (
        ("sx-transport", 40), ("sx-water-utility", 30),
        ("sx-market-regulation", 20), ("sx-public-security", 10),
    ),
    "serious": (
        ("sx-market-regulation", 30), ("sx-intermediate-court", 30),
        ("sx-public-security", 25), ("sx-transport", 15),
    ),
    "grave": (("sx-intermediate-court", 60), ("sx-public-security", 40)),
}  # fmt: skip
BREACH_CATEGORIES: Final = {
    "sx-intermediate-court": ("judgment_default", "false_litigation"),
    "sx-market-regulation": ("false_advertising", "product_quality", "price_violation"),
    "sx-transport": ("fare_evasion", "traffic_violation", "illegal_operation"),
    "sx-water-utility": ("utility_arrears", "illegal_water_use"),
    "sx-public-security": ("public_order", "fraud"),
}

# --- other information -------------------------------------------------------------------------
HONOUR_RATES: Final = (("county", 0.03), ("municipal", 0.01), ("provincial", 0.002), ("national", 0.0002))
HONOUR_TITLES: Final = {
    "county": ("道德模范", "优秀志愿者", "文明家庭", "见义勇为先进个人", "最美家庭"),
    "municipal": ("绍兴市道德模范", "绍兴市优秀志愿者", "最美绍兴人", "绍兴市见义勇为先进个人"),
    "provincial": ("浙江省道德模范", "浙江省优秀志愿者", "浙江好人", "浙江省见义勇为先进个人"),
    "national": ("全国道德模范", "全国优秀志愿者", "全国五一劳动奖章", "中国好人"),
}
DONATION_ADULT: Final = 0.25
DONATION_MINOR: Final = 0.10
DONATION_MEDIAN: Final = 200.0
DONATION_SIGMA: Final = 1.1
DONATION_RECIPIENTS: Final = (
    "绍兴市慈善总会", "越城区慈善总会", "柯桥区慈善总会", "上虞区慈善总会", "诸暨市慈善总会",
    "嵊州市慈善总会", "新昌县慈善总会", "绍兴市红十字会", "慈善一日捐", "春风行动",
)  # fmt: skip
VOLUNTEER_ADULT: Final = 0.30
VOLUNTEER_MINOR: Final = 0.30  # of minors aged 10+
VOLUNTEER_ORGANISATIONS: Final = (
    "绍兴市志愿者联合会", "越城区新时代文明实践中心", "柯桥区志愿者协会", "上虞区蓝天救援队",
    "诸暨市志愿者协会", "嵊州市新时代文明实践中心", "新昌县红十字志愿服务队", "绍兴市图书馆志愿服务队",
)  # fmt: skip
SELF_REPORT: Final = 0.02
