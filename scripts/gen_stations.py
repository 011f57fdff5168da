#!/usr/bin/env python3
"""Writes N synthetic demo stations as an importable CSV, deterministically (fixed seed).

Usage: scripts/gen_stations.py N [SEED] > stations.csv

The distribution mirrors benches/index.rs: 55 % in Jiangxi's 11 cities (Nanchang the densest),
25 % around 90 county seats, 17 % uniform over Jiangxi, 3 % uniform over China. Every row is
marked demo and named "（示例）…": these are benchmark data, never real stations.
"""
import csv
import math
import random
import sys

CITIES = [
    (115.892, 28.676, 0.30), (116.001, 29.705, 0.08), (114.935, 25.831, 0.10),
    (117.943, 28.455, 0.08), (114.993, 27.113, 0.07), (114.417, 27.816, 0.07),
    (116.358, 27.948, 0.06), (113.854, 27.623, 0.06), (114.917, 27.818, 0.06),
    (117.069, 28.260, 0.06), (117.178, 29.269, 0.06),
]
JIANGXI = (113.57, 24.49, 118.48, 30.08)
CHINA = (75.0, 20.0, 134.0, 50.0)
SCHEDULES = [
    ("24/7", 0.10), ("Mo-Su 08:00-20:00", 0.35), ("Mo-Fr 08:00-18:00", 0.25),
    ("Mo-Sa 07:30-19:30", 0.15), ("Mo-Fr 08:30-17:30; Sa 09:00-12:00", 0.10),
    ("Mo-Su 06:00-22:00", 0.05),
]
AMENITIES = [
    ("water", 0.95), ("hot_water", 0.80), ("microwave", 0.55), ("fridge", 0.35),
    ("phone_charging", 0.85), ("ebike_charging", 0.25), ("battery_swap", 0.08),
    ("toilet", 0.60), ("rest_area", 0.90), ("air_conditioning", 0.70), ("heating", 0.30),
    ("first_aid", 0.50), ("reading", 0.40), ("nursing_room", 0.10), ("wifi", 0.60),
    ("umbrella", 0.45), ("repair_tools", 0.30),
]
HEADER = ["code", "name", "address", "county", "lon", "lat", "amenities", "opening_hours",
          "phone", "demo", "notes"]


def pick(rng, weighted):
    u = rng.random()
    for item, p in weighted:
        if u < p:
            return item
        u -= p
    return weighted[-1][0]


def jitter(rng, lon, lat, sigma_km):
    dx, dy = rng.gauss(0, sigma_km), rng.gauss(0, sigma_km)
    lat2 = min(90.0, max(-90.0, lat + dy / 111.0))
    lon2 = min(180.0, max(-180.0, lon + dx / (111.0 * math.cos(math.radians(lat)))))
    return lon2, lat2


def main():
    n = int(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20261127
    rng = random.Random(seed)
    counties = [(rng.uniform(JIANGXI[0], JIANGXI[2]), rng.uniform(JIANGXI[1], JIANGXI[3]))
                for _ in range(90)]
    city_w = [((c[0], c[1]), c[2]) for c in CITIES]
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(HEADER)
    for i in range(1, n + 1):
        u = rng.random()
        if u < 0.55:
            lon, lat = pick(rng, city_w)
            sigma = 8.0 if (lon, lat) == (CITIES[0][0], CITIES[0][1]) else 4.0
            if rng.random() < 0.5:
                sigma /= 4
            lon, lat = jitter(rng, lon, lat, sigma)
        elif u < 0.80:
            lon, lat = jitter(rng, *counties[rng.randrange(len(counties))], 1.5)
        elif u < 0.97:
            lon, lat = rng.uniform(JIANGXI[0], JIANGXI[2]), rng.uniform(JIANGXI[1], JIANGXI[3])
        else:
            lon, lat = rng.uniform(CHINA[0], CHINA[2]), rng.uniform(CHINA[1], CHINA[3])
        amenities = ";".join(k for k, p in AMENITIES if rng.random() < p)
        out.writerow([
            f"SYN-{i:07d}", f"（示例）合成驿站{i}", "", "360102", f"{lon:.6f}", f"{lat:.6f}",
            amenities, pick(rng, SCHEDULES), "", "true", "",
        ])


if __name__ == "__main__":
    main()
