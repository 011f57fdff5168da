//! Reading an `.osm.pbf` extract into a walking and an e-bike graph.
//!
//! Two passes over the file: the ways (tags decide which profiles use each), then the
//! coordinates of only the nodes those ways use, looked up in a sorted id array (8 bytes per
//! used node instead of a map over every node of the extract). The rules are documented in
//! `docs/network.md`; changing them means bumping [`super::PROFILE_VERSION`].

use super::graph::{Graph, GraphBuilder};
use super::{NetworkError, Profile};
use crate::domain::{Mode, TravelModel};
use osmpbf::{Element, ElementReader};
use std::path::Path;

/// How one way may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WayUse {
    /// Pedestrians may use it (in both directions).
    pub walk: bool,
    /// E-bikes may ride it in the way's direction.
    pub ebike_forward: bool,
    /// E-bikes may ride it against the way's direction.
    pub ebike_backward: bool,
}

fn denies(v: &str) -> bool {
    matches!(
        v,
        "no" | "private"
            | "agricultural"
            | "forestry"
            | "emergency"
            | "military"
            | "use_sidepath"
            | "dismount"
    )
}

fn allows(v: &str) -> bool {
    matches!(
        v,
        "yes"
            | "designated"
            | "permissive"
            | "destination"
            | "customers"
            | "delivery"
            | "official"
            | "permit"
    )
}

/// The most specific access tag present decides: `None` when none is.
fn access<'a>(tag: &impl Fn(&str) -> Option<&'a str>, keys: &[&str]) -> Option<bool> {
    keys.iter().find_map(|k| tag(k)).map(|v| !denies(v))
}

/// Applies the tag rules to one way's tags.
pub fn classify<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)> + Clone) -> WayUse {
    let tag = |k: &str| {
        tags.clone()
            .into_iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v)
    };
    let none = WayUse::default();
    let Some(highway) = tag("highway") else {
        // Ferries (route=ferry) and everything else without a highway tag.
        return none;
    };
    if tag("route") == Some("ferry") || tag("motorroad") == Some("yes") {
        return none;
    }
    let area = tag("area") == Some("yes");
    let (walk_default, ebike_default) = match highway {
        "trunk" | "trunk_link" | "primary" | "primary_link" | "secondary" | "secondary_link"
        | "tertiary" | "tertiary_link" | "unclassified" | "residential" | "living_street"
        | "service" | "road" | "track" | "cycleway" | "path" => (true, true),
        "pedestrian" | "footway" | "steps" | "corridor" | "bridleway" | "platform" => (true, false),
        // motorway, motorway_link, construction, proposed, raceway, bus_guideway, busway, …
        _ => return none,
    };
    if area && !matches!(highway, "pedestrian" | "footway" | "platform") {
        return none;
    }
    let walk = access(&tag, &["foot", "access"]).unwrap_or(walk_default);
    let mut ebike = if highway == "steps" || area {
        false
    } else {
        match access(&tag, &["bicycle", "vehicle", "access"]) {
            // A general `access=yes` does not open a footway to vehicles; `bicycle=yes` does.
            Some(true) if !ebike_default => tag("bicycle").is_some_and(allows),
            Some(a) => a,
            None => ebike_default,
        }
    };
    let (mut fwd, mut bwd) = (true, true);
    let oneway = |v: &str| match v {
        "yes" | "true" | "1" => Some((true, false)),
        "-1" | "reverse" => Some((false, true)),
        "no" | "false" | "0" => Some((true, true)),
        // Reversible / alternating: which way is open depends on the hour; not routed.
        _ => Some((false, false)),
    };
    let contraflow = tags
        .clone()
        .into_iter()
        .any(|(k, v)| k.starts_with("cycleway") && v.starts_with("opposite"));
    if let Some(v) = tag("oneway:bicycle") {
        (fwd, bwd) = oneway(v).unwrap_or((true, true));
    } else if contraflow {
        (fwd, bwd) = (true, true);
    } else if let Some(v) = tag("oneway") {
        (fwd, bwd) = oneway(v).unwrap_or((true, true));
    } else if matches!(tag("junction"), Some("roundabout" | "circular")) {
        (fwd, bwd) = (true, false);
    }
    if !fwd && !bwd {
        ebike = false;
    }
    WayUse {
        walk,
        ebike_forward: ebike && fwd,
        ebike_backward: ebike && bwd,
    }
}

struct Way {
    refs: std::ops::Range<usize>,
    use_: WayUse,
}

/// What an extract yields: one graph per profile.
pub struct Networks {
    /// The walking graph.
    pub walk: Graph,
    /// The e-bike graph.
    pub ebike: Graph,
}

/// Reads `path` and builds both graphs under `model`'s speeds.
pub fn read(path: &Path, model: &TravelModel) -> Result<Networks, NetworkError> {
    let osm_err = |e: osmpbf::Error| NetworkError::Osm {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    // Pass 1: routable ways and their node ids.
    let mut refs: Vec<i64> = Vec::new();
    let mut ways: Vec<Way> = Vec::new();
    ElementReader::from_path(path)
        .map_err(osm_err)?
        .for_each(|el| {
            if let Element::Way(w) = el {
                let use_ = classify(w.tags());
                if use_.walk || use_.ebike_forward || use_.ebike_backward {
                    let start = refs.len();
                    refs.extend(w.refs());
                    if refs.len() - start >= 2 {
                        ways.push(Way {
                            refs: start..refs.len(),
                            use_,
                        });
                    } else {
                        refs.truncate(start);
                    }
                }
            }
        })
        .map_err(osm_err)?;
    let mut ids = refs.clone();
    ids.sort_unstable();
    ids.dedup();
    ids.shrink_to_fit();
    // Pass 2: coordinates of the used nodes only.
    const MISSING: [i32; 2] = [i32::MIN, i32::MIN];
    let mut coords = vec![MISSING; ids.len()];
    let mut put = |id: i64, lon: i32, lat: i32| {
        if let Ok(i) = ids.binary_search(&id) {
            coords[i] = [lon, lat];
        }
    };
    ElementReader::from_path(path)
        .map_err(osm_err)?
        .for_each(|el| match el {
            Element::DenseNode(n) => put(n.id(), n.decimicro_lon(), n.decimicro_lat()),
            Element::Node(n) => put(n.id(), n.decimicro_lon(), n.decimicro_lat()),
            _ => {}
        })
        .map_err(osm_err)?;
    // Way refs as indices into `ids`/`coords`.
    let idx: Vec<u32> = refs
        .iter()
        .map(|r| ids.binary_search(r).map_or(u32::MAX, |i| i as u32))
        .collect();
    drop(refs);
    let build = |mode: Mode| {
        let profile = Profile::new(mode, model);
        let dirs = |u: &WayUse| match mode {
            Mode::Walk => (u.walk, u.walk),
            Mode::Ebike => (u.ebike_forward, u.ebike_backward),
        };
        let b = builder(&ways, &idx, &coords, MISSING, dirs);
        Graph::build(b, profile)
    };
    Ok(Networks {
        walk: build(Mode::Walk),
        ebike: build(Mode::Ebike),
    })
}

/// Cuts the ways a profile uses at their shared nodes (and where the extract lacks a node).
fn builder(
    ways: &[Way],
    idx: &[u32],
    coords: &[[i32; 2]],
    missing: [i32; 2],
    dirs: impl Fn(&WayUse) -> (bool, bool),
) -> GraphBuilder {
    let present = |i: u32| i != u32::MAX && coords[i as usize] != missing;
    // Uses of each node by this profile's ways; ends count twice, so they are always cut.
    let mut uses = vec![0u8; coords.len()];
    for w in ways {
        let (f, b) = dirs(&w.use_);
        if !f && !b {
            continue;
        }
        let r = &idx[w.refs.clone()];
        for (j, &i) in r.iter().enumerate() {
            if !present(i) {
                continue;
            }
            let end = j == 0 || j + 1 == r.len() || !present(r[j - 1]) || !present(r[j + 1]);
            let u = &mut uses[i as usize];
            *u = u.saturating_add(if end { 2 } else { 1 });
        }
    }
    let mut node = vec![u32::MAX; coords.len()];
    let mut b = GraphBuilder::default();
    let mut id_of = |i: u32, b: &mut GraphBuilder| {
        let n = &mut node[i as usize];
        if *n == u32::MAX {
            *n = b.coords.len() as u32;
            b.coords.push(coords[i as usize]);
        }
        *n
    };
    let mut inner: Vec<[i32; 2]> = Vec::new();
    for w in ways {
        let (f, bw) = dirs(&w.use_);
        if !f && !bw {
            continue;
        }
        let mut start: Option<u32> = None;
        inner.clear();
        for &i in &idx[w.refs.clone()] {
            if !present(i) {
                start = None;
                inner.clear();
                continue;
            }
            if uses[i as usize] >= 2 {
                let v = id_of(i, &mut b);
                if let Some(u) = start {
                    b.push_edge(u, v, f, bw, &inner);
                }
                start = Some(v);
                inner.clear();
            } else {
                inner.push(coords[i as usize]);
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(tags: &[(&'static str, &'static str)]) -> WayUse {
        classify(tags.iter().copied())
    }

    #[test]
    fn motorways_and_ferries_are_out_trunk_is_in() {
        assert_eq!(c(&[("highway", "motorway")]), WayUse::default());
        assert_eq!(c(&[("route", "ferry")]), WayUse::default());
        let t = c(&[("highway", "trunk")]);
        assert!(t.walk && t.ebike_forward && t.ebike_backward);
        assert_eq!(
            c(&[("highway", "trunk"), ("motorroad", "yes")]),
            WayUse::default()
        );
    }

    #[test]
    fn footways_walk_only_unless_bicycles_are_allowed() {
        let f = c(&[("highway", "footway")]);
        assert!(f.walk && !f.ebike_forward);
        let f = c(&[("highway", "footway"), ("bicycle", "yes")]);
        assert!(f.ebike_forward && f.ebike_backward);
        let f = c(&[("highway", "footway"), ("access", "yes")]);
        assert!(!f.ebike_forward);
        assert!(!c(&[("highway", "steps"), ("bicycle", "yes")]).ebike_forward);
    }

    #[test]
    fn access_overrides_most_specific_first() {
        let p = c(&[("highway", "service"), ("access", "private")]);
        assert!(!p.walk && !p.ebike_forward);
        let p = c(&[
            ("highway", "service"),
            ("access", "private"),
            ("foot", "yes"),
        ]);
        assert!(p.walk && !p.ebike_forward);
        let p = c(&[("highway", "primary"), ("bicycle", "no")]);
        assert!(p.walk && !p.ebike_forward);
        let p = c(&[("highway", "primary"), ("foot", "use_sidepath")]);
        assert!(!p.walk && p.ebike_forward);
    }

    #[test]
    fn one_ways_bind_e_bikes_only() {
        let o = c(&[("highway", "residential"), ("oneway", "yes")]);
        assert!(o.walk && o.ebike_forward && !o.ebike_backward);
        let o = c(&[("highway", "residential"), ("oneway", "-1")]);
        assert!(!o.ebike_forward && o.ebike_backward);
        let o = c(&[
            ("highway", "residential"),
            ("oneway", "yes"),
            ("oneway:bicycle", "no"),
        ]);
        assert!(o.ebike_forward && o.ebike_backward);
        let o = c(&[
            ("highway", "residential"),
            ("oneway", "yes"),
            ("cycleway", "opposite_lane"),
        ]);
        assert!(o.ebike_forward && o.ebike_backward);
        let r = c(&[("highway", "primary"), ("junction", "roundabout")]);
        assert!(r.ebike_forward && !r.ebike_backward && r.walk);
        let r = c(&[("highway", "primary"), ("oneway", "reversible")]);
        assert!(!r.ebike_forward && !r.ebike_backward && r.walk);
    }

    #[test]
    fn pedestrian_areas_are_walked_around_their_outline() {
        let a = c(&[("highway", "pedestrian"), ("area", "yes")]);
        assert!(a.walk && !a.ebike_forward);
        assert_eq!(
            c(&[("highway", "service"), ("area", "yes")]),
            WayUse::default()
        );
    }
}
