//! A static, packed R-tree of boxes (the "flatbush" layout): items sorted along a Hilbert
//! curve, grouped by [`NODE_SIZE`] into parent boxes, level after level, all in two flat arrays.
//!
//! Why not `rstar` here: the roads' edges never change after the build, and `rstar` keeps each
//! leaf in an enum as large as an inner node (~48 bytes for a 20-byte entry), so a provincial
//! graph's 2.2 million edges took ~155 MB resident against ~48 MB packed. The stations' index,
//! which changes with every edit, stays on `rstar`.

/// Children per inner node.
pub const NODE_SIZE: usize = 16;

/// An axis-aligned box `[min_x, min_y, max_x, max_y]`.
pub type Box2 = [f32; 4];

/// The packed tree.
#[derive(Debug, Clone, Default)]
pub struct PackedRTree {
    /// Leaves (in Hilbert order), then each level of inner nodes, the root last.
    boxes: Vec<Box2>,
    /// For a leaf, its item's id; for an inner node, the position of its first child.
    index: Vec<u32>,
    /// The end of each level in `boxes` (level 0: the leaves).
    level_end: Vec<usize>,
}

fn intersects(a: &Box2, b: &Box2) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

fn union(a: &Box2, b: &Box2) -> Box2 {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

const EMPTY_BOX: Box2 = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];

/// The position of `(x, y)` (each in `0..2^16`) along a Hilbert curve over that square.
fn hilbert(mut x: u32, mut y: u32) -> u32 {
    let n: u32 = 1 << 16;
    let mut d: u32 = 0;
    let mut s = n / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d = d.wrapping_add(s.wrapping_mul(s).wrapping_mul((3 * rx) ^ ry));
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

impl PackedRTree {
    /// Packs `items` (item `i` is `items[i]`; empty or inverted boxes are kept but never found).
    pub fn new(items: &[Box2]) -> Self {
        let n = items.len();
        if n == 0 {
            return Self::default();
        }
        let all = items.iter().fold(EMPTY_BOX, |a, b| union(&a, b));
        let (w, h) = (
            (all[2] - all[0]).max(f32::MIN_POSITIVE),
            (all[3] - all[1]).max(f32::MIN_POSITIVE),
        );
        let scale = f32::from(u16::MAX);
        let mut order: Vec<(u32, u32)> = items
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let cx = ((b[0] + b[2]) / 2.0 - all[0]) / w * scale;
                let cy = ((b[1] + b[3]) / 2.0 - all[1]) / h * scale;
                let key = hilbert(cx.clamp(0.0, scale) as u32, cy.clamp(0.0, scale) as u32);
                (key, i as u32)
            })
            .collect();
        order.sort_unstable();
        let mut total = n;
        let mut level = n;
        while level > 1 {
            level = level.div_ceil(NODE_SIZE);
            total += level;
        }
        let mut boxes = Vec::with_capacity(total);
        let mut index = Vec::with_capacity(total);
        for &(_, i) in &order {
            boxes.push(items[i as usize]);
            index.push(i);
        }
        drop(order);
        let mut level_end = vec![n];
        let mut start = 0;
        while boxes.len() - start > 1 {
            let end = boxes.len();
            let mut pos = start;
            while pos < end {
                let stop = (pos + NODE_SIZE).min(end);
                let b = boxes[pos..stop].iter().fold(EMPTY_BOX, |a, b| union(&a, b));
                boxes.push(b);
                index.push(pos as u32);
                pos = stop;
            }
            start = end;
            level_end.push(boxes.len());
        }
        Self {
            boxes,
            index,
            level_end,
        }
    }

    /// Calls `f` with the id of every item whose box meets `query`.
    pub fn search(&self, query: &Box2, mut f: impl FnMut(u32)) {
        let Some(root) = self.boxes.len().checked_sub(1) else {
            return;
        };
        // (position, level); leaves are level 0.
        let mut stack = vec![(root, self.level_end.len() - 1)];
        while let Some((pos, level)) = stack.pop() {
            if !intersects(&self.boxes[pos], query) {
                continue;
            }
            if level == 0 {
                f(self.index[pos]);
                continue;
            }
            let first = self.index[pos] as usize;
            let end = (first + NODE_SIZE).min(self.level_end[level - 1]);
            for child in first..end {
                if level - 1 == 0 {
                    if intersects(&self.boxes[child], query) {
                        f(self.index[child]);
                    }
                } else {
                    stack.push((child, level - 1));
                }
            }
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.level_end.first().copied().unwrap_or(0)
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.boxes.capacity() * std::mem::size_of::<Box2>()
            + self.index.capacity() * 4
            + self.level_end.capacity() * std::mem::size_of::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_box() -> impl Strategy<Value = Box2> {
        (-50.0f32..50.0, -50.0f32..50.0, 0.0f32..8.0, 0.0f32..8.0)
            .prop_map(|(x, y, w, h)| [x, y, x + w, y + h])
    }

    proptest! {
        /// Every query finds exactly the items a scan of all boxes finds, for trees of one to
        /// several levels.
        #[test]
        fn finds_what_a_scan_finds(
            items in proptest::collection::vec(arb_box(), 0..700),
            queries in proptest::collection::vec(arb_box(), 1..20),
        ) {
            let tree = PackedRTree::new(&items);
            prop_assert_eq!(tree.len(), items.len());
            for q in &queries {
                let mut got = Vec::new();
                tree.search(q, |i| got.push(i));
                got.sort_unstable();
                let want: Vec<u32> = (0..items.len() as u32)
                    .filter(|&i| intersects(&items[i as usize], q))
                    .collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn hilbert_visits_every_cell_of_a_small_square_once() {
        // On the top 2 × 2 quadrants the curve's first steps are distinct and adjacent cells
        // along it are neighbours.
        let mut seen: Vec<(u32, (u32, u32))> = Vec::new();
        for x in 0..4u32 {
            for y in 0..4u32 {
                seen.push((hilbert(x << 14, y << 14), (x, y)));
            }
        }
        seen.sort_unstable();
        seen.dedup_by_key(|s| s.0);
        assert_eq!(seen.len(), 16);
        for w in seen.windows(2) {
            let ((x0, y0), (x1, y1)) = (w[0].1, w[1].1);
            assert_eq!(x0.abs_diff(x1) + y0.abs_diff(y1), 1, "{:?}", w);
        }
    }

    #[test]
    fn one_item_and_none() {
        let t = PackedRTree::new(&[[0.0, 0.0, 1.0, 1.0]]);
        let mut got = Vec::new();
        t.search(&[0.5, 0.5, 2.0, 2.0], |i| got.push(i));
        assert_eq!(got, vec![0]);
        let e = PackedRTree::new(&[]);
        e.search(&[0.0, 0.0, 1.0, 1.0], |_| panic!("nothing to find"));
        assert!(e.is_empty());
    }
}
