//! Content negotiation and one-off compression at the best settings, shared by the replies that
//! are compressed once and served many times (the county basemap, the web app's text files).

use axum::http::{header, HeaderMap};

/// The encodings offered for bodies compressed ahead of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Brotli.
    Br,
    /// gzip.
    Gzip,
    /// Neither: the bytes as they are.
    Identity,
}

impl Accepted {
    /// The `Content-Encoding` token, if any.
    pub fn token(self) -> Option<&'static str> {
        match self {
            Accepted::Br => Some("br"),
            Accepted::Gzip => Some("gzip"),
            Accepted::Identity => None,
        }
    }
}

/// The client's choice from `Accept-Encoding` (RFC 9110 §12.5.3): brotli over gzip when both
/// are acceptable, `q=0` refuses, `*` stands for any not named.
pub fn accepted(headers: &HeaderMap) -> Accepted {
    let mut br: Option<f32> = None;
    let mut gzip: Option<f32> = None;
    let mut any: Option<f32> = None;
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    let br = br.or(any).unwrap_or(0.0);
    let gzip = gzip.or(any).unwrap_or(0.0);
    if br > 0.0 && br >= gzip {
        Accepted::Br
    } else if gzip > 0.0 {
        Accepted::Gzip
    } else {
        Accepted::Identity
    }
}

/// `(gzip, brotli)` of `body` at their best (gzip 9, brotli 11 with a 4 MB window): seconds of
/// CPU per megabyte, so only for bodies compressed once and served many times.
pub fn best_compressed(body: &[u8]) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(body)?;
    let gzip = gz.finish()?;
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
        w.write_all(body)?;
    }
    Ok((gzip, br))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_encoding_is_negotiated_with_q_values() {
        assert_eq!(accepted(&HeaderMap::new()), Accepted::Identity);
        assert_eq!(accepted(&with("gzip, deflate, br, zstd")), Accepted::Br);
        assert_eq!(accepted(&with("gzip")), Accepted::Gzip);
        assert_eq!(accepted(&with("br;q=0.5, gzip")), Accepted::Gzip);
        assert_eq!(accepted(&with("br;q=0, gzip;q=0")), Accepted::Identity);
        assert_eq!(accepted(&with("*")), Accepted::Br);
        assert_eq!(accepted(&with("identity")), Accepted::Identity);
    }

    #[test]
    fn best_compression_round_trips() {
        use std::io::Read;
        let body = "驿站 water,toilet; ".repeat(500);
        let (gzip, br) = best_compressed(body.as_bytes()).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);
        let mut out = String::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(br.len() < body.len() / 10 && gzip.len() < body.len() / 10);
    }
}
