//! Generators shared by the fuzz tests: arbitrary and structure-aware text, JSON, opening
//! hours and station patches, and random edits of valid inputs.
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Real-world opening_hours expressions to mutate.
pub const HOURS_SEEDS: &[&str] = &[
    "24/7",
    "Mo-Fr 08:00-20:00",
    "Mo-Su 07:00-21:00; PH off",
    "Mo-Fr 08:00-12:00,13:30-18:00; Sa 09:00-12:00",
    "Jan-Mar,Nov-Dec Mo-Su 09:00-17:00; Apr-Oct Mo-Su 08:00-20:00",
    "sunrise-sunset",
    "Mo[1] 10:00-12:00 \"first Monday\"",
    "2026 Jan 01-2026 Feb 15 off; Mo-Su 00:00-24:00",
    "week 01-53/2 Mo 10:00-12:00 || Tu 10:00-12:00 unknown",
    "10:00+",
    "Mo-Su 00:00-24:00/00:01",
    "easter -2 days-easter +1 day off",
];

/// An opening_hours expression built from the grammar's pieces (often valid, sometimes huge
/// week/year ranges, repetitions and long rule lists: what made evaluation slow elsewhere).
pub fn hours_expression() -> impl Strategy<Value = String> {
    let day = prop::sample::select(vec!["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su", "PH", "SH"]);
    let days = (
        day.clone(),
        prop::option::of(day),
        prop::option::of(-5i32..=5),
    )
        .prop_map(|(a, b, nth)| match (b, nth) {
            (Some(b), _) => format!("{a}-{b}"),
            (None, Some(n)) if n != 0 => format!("{a}[{n}]"),
            _ => a.to_string(),
        });
    let time = (0u32..=48, 0u32..60).prop_map(|(h, m)| format!("{h:02}:{m:02}"));
    let span = (
        time.clone(),
        time,
        prop::option::of(prop::sample::select(vec!["00:01", "00:05", "01:00"])),
    )
        .prop_map(|(a, b, rep)| match rep {
            Some(r) => format!("{a}-{b}/{r}"),
            None => format!("{a}-{b}"),
        });
    let month = prop::sample::select(vec![
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]);
    let dates = prop_oneof![
        Just(String::new()),
        (month.clone(), month).prop_map(|(a, b)| format!("{a}-{b} ")),
        (
            1900u32..=9999,
            1900u32..=9999,
            prop::option::of(1u32..=1000)
        )
            .prop_map(|(a, b, step)| match step {
                Some(s) => format!("{a}-{b}/{s} "),
                None => format!("{a}-{b} "),
            }),
        (1u32..=53, 1u32..=53, 1u32..=4).prop_map(|(a, b, s)| format!("week {a:02}-{b:02}/{s} ")),
    ];
    let state = prop::sample::select(vec!["", " off", " closed", " unknown", " open"]);
    let rule = (dates, days, prop::collection::vec(span, 0..4), state).prop_map(
        |(dates, days, spans, state)| format!("{dates}{days} {}{state}", spans.join(",")),
    );
    let separator = prop::sample::select(vec!["; ", ", ", " || "]);
    (prop::collection::vec((rule, separator), 1..12)).prop_map(|rules| {
        let mut s = String::new();
        for (i, (rule, sep)) in rules.into_iter().enumerate() {
            if i > 0 {
                s.push_str(sep);
            }
            s.push_str(rule.trim());
        }
        s
    })
}

/// Random edits of a text: insertions, deletions, duplications and swaps of characters.
pub fn mutate(text: String, edits: Vec<(u8, usize, char)>) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (kind, at, c) in edits {
        let len = chars.len();
        let i = if len == 0 { 0 } else { at % (len + 1) };
        match kind % 4 {
            0 => chars.insert(i, c),
            1 if i < len => {
                chars.remove(i);
            }
            2 if len > 0 => {
                let slice: Vec<char> = chars[i.min(len - 1)..].iter().take(8).copied().collect();
                chars.splice(i..i, slice);
            }
            3 if i + 1 < len => chars.swap(i, i + 1),
            _ => chars.push(c),
        }
    }
    chars.into_iter().collect()
}

pub fn edits() -> impl Strategy<Value = Vec<(u8, usize, char)>> {
    prop::collection::vec(
        (
            any::<u8>(),
            any::<usize>(),
            prop_oneof![
                prop::sample::select(vec![
                    ',', ';', '"', '\n', '\r', '-', ':', '.', '[', ']', '{', '}', '0', '9', ' ',
                    '\u{0}', '\u{feff}', '驿', '/', '+', 'e', 'E',
                ]),
                any::<char>(),
            ],
        ),
        1..8,
    )
}

/// Any text, with a bias for the characters parsers split on.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-0-9.,;:eE+ a-zA-Z_\"\\[\\]{}\n\r\t]{0,80}",
        "\\PC{0,300}",
    ]
}

/// A number as someone might type it into a query or a file.
pub fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|v| v.to_string()),
        (-200.0f64..200.0).prop_map(|v| format!("{v:.6}")),
        prop::sample::select(vec![
            "NaN", "inf", "-inf", "1e400", "-0", "+1", " 1", "1 ", "0x10", "", "１２", "1,5",
        ])
        .prop_map(str::to_string),
    ]
}

/// Any JSON value, shallow.
pub fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|v| json!(v)),
        text().prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!([115.89, 28.68])),
        Just(json!(["water", "toilet"])),
    ]
}

pub fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A patch value for a known field: plausible, or anything.
pub fn patch_value(field: &'static str) -> BoxedStrategy<Value> {
    let plausible: BoxedStrategy<Value> = match field {
        "amenities" => prop::collection::vec(
            prop_oneof![Just("water".to_string()), Just("sauna".to_string()), text()],
            0..4,
        )
        .prop_map(Value::from)
        .boxed(),
        "opening_hours" => prop_oneof![hours_expression(), text()]
            .prop_map(Value::from)
            .boxed(),
        "temporary_closure" => (
            prop_oneof![
                (0i64..4_000_000_000).prop_map(|t| Utc
                    .timestamp_opt(t, 0)
                    .single()
                    .map_or_else(String::new, |d| d.to_rfc3339())),
                text(),
            ],
            text(),
        )
            .prop_map(|(until, reason)| json!({"until": until, "reason": reason}))
            .boxed(),
        "lat" | "lon" => prop_oneof![
            (-200.0f64..200.0).prop_map(|v| json!(v)),
            any::<f64>().prop_map(|v| json!(v))
        ]
        .boxed(),
        "county" => prop_oneof!["[0-9]{6}", text()]
            .prop_map(Value::from)
            .boxed(),
        _ => text().prop_map(Value::from).boxed(),
    };
    prop_oneof![3 => plausible, 1 => Just(Value::Null), 1 => json_value()].boxed()
}

const PATCH_FIELDS: [&str; 12] = [
    "name",
    "address",
    "amenities",
    "opening_hours",
    "temporary_closure",
    "phone",
    "photo_url",
    "notes",
    "lat",
    "lon",
    "county",
    "nmae",
];

pub fn patch_body() -> impl Strategy<Value = Value> {
    prop::collection::vec(prop::sample::select(PATCH_FIELDS.to_vec()), 0..5)
        .prop_flat_map(|fields| {
            let values: Vec<BoxedStrategy<(String, Value)>> = fields
                .into_iter()
                .map(|f| patch_value(f).prop_map(move |v| (f.to_string(), v)).boxed())
                .collect();
            values
        })
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
}
