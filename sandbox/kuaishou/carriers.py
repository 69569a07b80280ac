"""Express company codes (物流公司编号, reference §2.3) and waybill-number shapes.

Kuaishou identifies carriers by integer ``expressCode``. Since 2023-04 the platform
checks that a waybill number fits the carrier (K1009); the patterns below are the
simulator's approximation of each carrier's number format, strict enough that a
mistyped carrier or number is caught and loose enough for realistic numbers.

    check_waybill(4, "SF1515601210470")  # -> None when fine, else the refusal text
"""
from __future__ import annotations

import re

# code: (name, waybill pattern, online)
CARRIERS: dict[int, tuple[str, str, bool]] = {
    1: ("百世快递", r"\d{12,15}", False),        # merged into 109 极兔
    2: ("EMS", r"[A-Z]{2}\d{9}[A-Z]{2}|(1|5|9)\d{12}", True),
    3: ("申通快递", r"(77|88|66|55|268|368|468|568|668|768|868|968)\d{10,13}", True),
    4: ("顺丰速运", r"SF\d{12,13}", True),
    5: ("天天快递", r"\d{12,14}", True),
    6: ("圆通速递", r"YT\d{13,15}", True),
    7: ("韵达快运", r"\d{13,15}", True),
    8: ("邮政快递包裹", r"(9|1)\d{12}", True),
    9: ("中通快递", r"(7|6|5|1)\d{11,14}", True),
    10: ("宅急送", r"[A-Z]?\d{10,13}", True),
    11: ("韵达快递", r"(31|43|46|10|12|13|19|38|39|50)\d{11,13}", True),
    12: ("中通快运", r"(ZTO|8)\d{11,13}", True),
    13: ("圆通快运", r"YTK?\d{12,14}", False),   # merged into 6
    14: ("京东快递", r"JD[A-Z0-9]{11,13}", True),
    15: ("优速快递", r"UC\d{12,13}|\d{12}", True),
    17: ("德邦快递", r"DPK\d{12,13}|\d{10}", True),
    109: ("极兔速递", r"JT\d{13}", True),
    113: ("菜鸟速递", r"(DN|CN)\d{12,14}", True),
    128: ("一站通速运", r"[A-Z0-9]{10,20}", True),
}


def carrier_name(code: int) -> str:
    entry = CARRIERS.get(code)
    return entry[0] if entry else f"未知快递({code})"


def check_waybill(express_code: int, express_no: str) -> str | None:
    """``None`` if the number may belong to the carrier, else the platform's refusal text."""
    entry = CARRIERS.get(express_code)
    if entry is None:
        return f"快递公司编码{express_code}不存在"
    name, pattern, online = entry
    if not online:
        return f"快递公司{name}已下线，请使用新的快递公司编码"
    if not re.fullmatch(pattern, express_no or ""):
        return f"运单号{express_no}与快递公司{name}不匹配"
    return None
