//! Mapbox Vector Tile 2.1 encoding with geozero's MVT types (protobuf through prost).
//!
//! Two layers, documented in the TileJSON: [`CLUSTER_LAYER`] below the points zoom and
//! [`STATION_LAYER`] from it on. A tile holds one of them, never both.

use super::cluster::{Cluster, COUNTED};
use super::grid::{TileId, World, EXTENT};
use crate::domain::{AmenitySet, Station};
use geozero::mvt::{tile, Message, TagsBuilder, Tile, TileValue};
use geozero::ToMvt;

/// Layer of cluster points (zooms below the points zoom).
pub const CLUSTER_LAYER: &str = "clusters";
/// Layer of station points (the points zoom and above).
pub const STATION_LAYER: &str = "stations";

/// The fields of [`CLUSTER_LAYER`] and what they mean (for TileJSON `vector_layers`).
pub const CLUSTER_FIELDS: &[(&str, &str)] = &[
    ("count", "Number: stations in the cluster"),
    (
        "amenities",
        "String: comma-separated amenity keys at least one station offers",
    ),
    ("n_water", "Number: stations with water"),
    ("n_toilet", "Number: stations with a toilet"),
    ("n_phone_charging", "Number: stations with phone charging"),
    ("n_ebike_charging", "Number: stations with e-bike charging"),
    ("demo", "Boolean: every station in the cluster is demo data"),
    (
        "expand_zoom",
        "Number: the zoom at which the cluster splits (zoom there on a tap)",
    ),
];

/// The fields of [`STATION_LAYER`] and what they mean.
pub const STATION_FIELDS: &[(&str, &str)] = &[
    ("id", "Number: station id (also the feature id)"),
    ("name", "String: station name"),
    ("amenities", "String: comma-separated amenity keys"),
    ("opening_hours", "String: OSM opening_hours"),
    (
        "open_now",
        "Boolean: open when the tile was made (tiles live at most a minute)",
    ),
    (
        "closed_until",
        "Number: end of a temporary closure in force, Unix seconds (absent if none)",
    ),
    ("demo", "Boolean: demo data, not a real station"),
];

/// A point feature at tile coordinates, through geozero's MVT writer.
fn point(x: i32, y: i32) -> tile::Feature {
    // Points never fail to encode; an empty geometry would only drop the feature.
    geo_types::Geometry::Point(geo_types::Point::new(f64::from(x), f64::from(y)))
        .to_mvt_unscaled()
        .unwrap_or_default()
}

fn layer(name: &str, features: Vec<tile::Feature>, tags: TagsBuilder) -> Vec<u8> {
    let (keys, values) = tags.into_tags();
    let layer = tile::Layer {
        version: 2,
        name: name.to_string(),
        features,
        keys,
        values: values.into_iter().map(Into::into).collect(),
        extent: Some(EXTENT),
    };
    Tile {
        layers: vec![layer],
    }
    .encode_to_vec()
}

fn tag(tags: &mut TagsBuilder, f: &mut tile::Feature, key: &str, value: TileValue) {
    let (k, v) = tags.insert_ref(key, value);
    f.tags.push(k);
    f.tags.push(v);
}

fn keys(bits: u32) -> String {
    AmenitySet::from_bits(bits).keys().join(",")
}

/// The cluster layer of a tile, or `None` when it has no cluster.
pub fn clusters_tile(t: TileId, clusters: &[Cluster]) -> Option<Vec<u8>> {
    if clusters.is_empty() {
        return None;
    }
    let mut tags = TagsBuilder::new();
    let features = clusters
        .iter()
        .map(|c| {
            let (x, y) = t.to_extent(c.centre());
            let mut f = point(x, y);
            tag(&mut tags, &mut f, "count", TileValue::Uint(c.count.into()));
            tag(
                &mut tags,
                &mut f,
                "amenities",
                TileValue::Str(keys(c.any_amenities)),
            );
            for (a, n) in COUNTED.iter().zip(c.counted) {
                let key = match a.key() {
                    "water" => "n_water",
                    "toilet" => "n_toilet",
                    "phone_charging" => "n_phone_charging",
                    _ => "n_ebike_charging",
                };
                tag(&mut tags, &mut f, key, TileValue::Uint(n.into()));
            }
            tag(&mut tags, &mut f, "demo", TileValue::Bool(c.all_demo));
            tag(
                &mut tags,
                &mut f,
                "expand_zoom",
                TileValue::Uint(c.expand_zoom.into()),
            );
            f
        })
        .collect();
    Some(layer(CLUSTER_LAYER, features, tags))
}

/// One station as the station layer shows it.
pub struct StationPoint<'a> {
    /// The station.
    pub station: &'a Station,
    /// Whether it is open at the moment the tile is made.
    pub open_now: bool,
    /// End of a closure in force (Unix seconds).
    pub closed_until: Option<i64>,
}

/// The station layer of a tile, or `None` when it has no station.
pub fn stations_tile(t: TileId, stations: &[StationPoint<'_>]) -> Option<Vec<u8>> {
    if stations.is_empty() {
        return None;
    }
    let mut tags = TagsBuilder::new();
    let features = stations
        .iter()
        .map(|p| {
            let s = p.station;
            let (x, y) = t.to_extent(World::of(s.location));
            let mut f = point(x, y);
            // Ids are positive (store sequences); a negative one would not be a valid feature id.
            f.id = u64::try_from(s.id).ok();
            tag(&mut tags, &mut f, "id", TileValue::Int(s.id));
            tag(&mut tags, &mut f, "name", TileValue::Str(s.name.clone()));
            tag(
                &mut tags,
                &mut f,
                "amenities",
                TileValue::Str(keys(s.amenities.bits())),
            );
            tag(
                &mut tags,
                &mut f,
                "opening_hours",
                TileValue::Str(s.opening_hours.as_str().to_string()),
            );
            tag(&mut tags, &mut f, "open_now", TileValue::Bool(p.open_now));
            if let Some(until) = p.closed_until {
                tag(&mut tags, &mut f, "closed_until", TileValue::Int(until));
            }
            tag(&mut tags, &mut f, "demo", TileValue::Bool(s.demo));
            f
        })
        .collect();
    Some(layer(STATION_LAYER, features, tags))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiles::cluster::Clusters;
    use geozero::mvt::Tile;

    #[test]
    fn a_cluster_tile_decodes_with_its_fields() {
        let now = chrono::Utc::now();
        let s = Station {
            id: 5,
            code: "E-5".into(),
            name: "驿站".into(),
            address: String::new(),
            county: "360102".into(),
            location: crate::domain::LonLat::new(115.89, 28.68).unwrap(),
            amenities: AmenitySet::from_keys(&["water", "wifi"]).unwrap(),
            opening_hours: "24/7".parse().unwrap(),
            temporary_closure: None,
            phone: None,
            photo_url: None,
            notes: None,
            demo: true,
            verified_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let c = Clusters::build(1, 14, |f| f(&s));
        let t = TileId::new(0, 0, 0).unwrap();
        let bytes = clusters_tile(t, c.in_tile(t)).unwrap();
        let tile = Tile::decode(bytes.as_slice()).unwrap();
        let l = &tile.layers[0];
        assert_eq!(l.name, CLUSTER_LAYER);
        assert_eq!(l.features.len(), 1);
        let f = &l.features[0];
        let prop = |k: &str| {
            let i = l.keys.iter().position(|x| x == k).unwrap() as u32;
            let j = f.tags.chunks(2).find(|p| p[0] == i).unwrap()[1];
            l.values[j as usize].clone()
        };
        assert_eq!(prop("count").uint_value, Some(1));
        assert_eq!(
            prop("amenities").string_value.as_deref(),
            Some("water,wifi")
        );
        assert_eq!(prop("n_water").uint_value, Some(1));
        assert_eq!(prop("demo").bool_value, Some(true));
        // Every key named in the documented fields is in the tile.
        for (k, _) in CLUSTER_FIELDS {
            assert!(l.keys.iter().any(|x| x == k), "{k}");
        }
        let bytes = stations_tile(
            t,
            &[StationPoint {
                station: &s,
                open_now: true,
                closed_until: None,
            }],
        )
        .unwrap();
        let tile = Tile::decode(bytes.as_slice()).unwrap();
        assert_eq!(tile.layers[0].name, STATION_LAYER);
        assert_eq!(tile.layers[0].features[0].id, Some(5));
        assert!(clusters_tile(t, &[]).is_none());
        assert!(stations_tile(t, &[]).is_none());
    }
}
