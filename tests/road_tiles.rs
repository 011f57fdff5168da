//! The streets basemap (issue 11): `GET /api/v1/tiles/roads/{z}/{x}/{y}.mvt` over a real socket
//! with Helsinki's extract loaded (© OpenStreetMap contributors, ODbL): every walkable edge
//! with a vertex in the tile is in it as a line at the right tile coordinates; zooms outside
//! 12–16 and servers without a network answer 204; ETags revalidate.

mod common;

use common::{helsinki_extract, spawn_app_with, TestApp};
use geozero::mvt::{Message, Tile};
use reqwest::StatusCode;

use yizhan::domain::TravelModel;
use yizhan::network::graph::Graph;
use yizhan::network::{lonlat_of, osm};
use yizhan::tiles::grid::{TileId, World};

async fn tile(app: &TestApp, t: TileId) -> reqwest::Response {
    app.get(&format!("/api/v1/tiles/roads/{}/{}/{}.mvt", t.z, t.x, t.y))
        .await
}

/// The lines of a road tile, as vertex lists in tile units (MoveTo/LineTo decoded here).
fn lines(bytes: &[u8]) -> Vec<Vec<(i32, i32)>> {
    let tile = Tile::decode(bytes).expect("a vector tile");
    assert_eq!(tile.layers.len(), 1);
    let layer = &tile.layers[0];
    assert_eq!(layer.name, "roads");
    assert_eq!(layer.extent, Some(4096));
    let zz = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
    layer
        .features
        .iter()
        .map(|f| {
            assert_eq!(f.r#type, Some(2), "a LineString");
            let g = &f.geometry;
            let (mut x, mut y, mut i) = (0i32, 0i32, 0usize);
            let mut line = Vec::new();
            while i < g.len() {
                let (cmd, count) = (g[i] & 7, g[i] >> 3);
                i += 1;
                assert!(cmd == 1 || cmd == 2, "MoveTo or LineTo, got {cmd}");
                for _ in 0..count {
                    x += zz(g[i]);
                    y += zz(g[i + 1]);
                    i += 2;
                    line.push((x, y));
                }
            }
            line
        })
        .collect()
}

/// Each edge of `g` with a vertex inside tile `t`, as tile units (consecutive repeats dropped).
fn edges_inside(g: &Graph, t: TileId) -> Vec<Vec<(i32, i32)>> {
    (0..g.edges() as u32)
        .filter_map(|e| {
            let pts: Vec<_> = g.edge_points(e).map(|p| World::of(lonlat_of(p))).collect();
            if !pts.iter().any(|w| t.contains(*w)) {
                return None;
            }
            let mut line: Vec<(i32, i32)> = Vec::new();
            for w in pts {
                let c = t.to_extent(w);
                if line.last() != Some(&c) {
                    line.push(c);
                }
            }
            (line.len() >= 2).then_some(line)
        })
        .collect()
}

#[tokio::test]
async fn road_tiles_hold_the_walkable_edges_of_the_extract() {
    let (_dir, path) = helsinki_extract();
    let app = spawn_app_with(|a| {
        a.seed = false;
        a.osm = Some(path.clone());
    })
    .await;
    let walk = osm::read(&path, &TravelModel::default()).unwrap().walk;
    let centre = World::of(yizhan::domain::LonLat::new(24.9384, 60.1699).unwrap());
    let mut checked = 0;
    for z in [12u8, 14, 16] {
        let (x, y) = centre.cell(z);
        let t = TileId::new(z, x, y).unwrap();
        let res = tile(&app, t).await;
        assert_eq!(res.status(), StatusCode::OK, "z{z}");
        assert_eq!(
            res.headers()["content-type"],
            "application/vnd.mapbox-vector-tile"
        );
        let etag = res.headers()["etag"].to_str().unwrap().to_string();
        let got = lines(&res.bytes().await.unwrap());
        let want = edges_inside(&walk, t);
        assert!(!want.is_empty(), "z{z}: no edge in the tile");
        // Every edge with a vertex in the tile is there, at its tile coordinates; the others
        // the tile holds cross it (or pass within the snapping index's padding).
        let mut remaining = got.clone();
        for line in &want {
            let at = remaining
                .iter()
                .position(|l| l == line)
                .unwrap_or_else(|| panic!("z{z}: edge {line:?} missing"));
            remaining.swap_remove(at);
        }
        assert!(
            remaining.len() <= got.len() / 2,
            "z{z}: {} of {} lines have no vertex inside",
            remaining.len(),
            got.len()
        );
        checked += want.len();

        // Revalidation: the same bytes, the same tag.
        let again = app
            .client
            .get(app.url(&format!("/api/v1/tiles/roads/{z}/{x}/{y}.mvt")))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "z{z}");
    }
    assert!(checked > 50, "{checked} edges checked");

    // Coarser than 12 or finer than 16: nothing (clients overzoom the zoom-16 tiles); the sea
    // south of the city: nothing; a bad address: 400.
    for t in [
        TileId::new(11, centre.cell(11).0, centre.cell(11).1).unwrap(),
        TileId::new(17, centre.cell(17).0, centre.cell(17).1).unwrap(),
        TileId::new(14, centre.cell(14).0, centre.cell(14).1 + 40).unwrap(),
    ] {
        assert_eq!(
            tile(&app, t).await.status(),
            StatusCode::NO_CONTENT,
            "{t:?}"
        );
    }
    let res = app.get("/api/v1/tiles/roads/14/99999/1.mvt").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn without_a_network_road_tiles_are_empty() {
    let app = spawn_app_with(|a| a.seed = false).await;
    let centre = World::of(yizhan::domain::LonLat::new(24.9384, 60.1699).unwrap());
    let (x, y) = centre.cell(14);
    let t = TileId::new(14, x, y).unwrap();
    assert_eq!(tile(&app, t).await.status(), StatusCode::NO_CONTENT);
}
